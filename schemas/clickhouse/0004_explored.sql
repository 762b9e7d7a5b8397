-- Decisions the cold start explored (a Thompson draw scored a new line item): marked so
-- analyses of the model can set them apart.
ALTER TABLE decisions ADD COLUMN explored UInt8 DEFAULT 0
;
