//! The lifecycle every campaign and line item goes through.

use crate::ValidationError;
use serde::{Deserialize, Serialize};

/// Lifecycle state of a campaign or line item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Being set up; never serves.
    Draft,
    /// Serving while inside its flight.
    Active,
    /// Stopped for now; may be resumed.
    Paused,
    /// Finished for good; read-only from then on.
    Archived,
}

impl Status {
    /// The stored/text form.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Draft => "draft",
            Status::Active => "active",
            Status::Paused => "paused",
            Status::Archived => "archived",
        }
    }

    /// Parses the stored/text form.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "draft" => Some(Status::Draft),
            "active" => Some(Status::Active),
            "paused" => Some(Status::Paused),
            "archived" => Some(Status::Archived),
            _ => None,
        }
    }

    /// Whether an object in this state may move to `next`. Staying put is always allowed
    /// except for archived objects, which are frozen.
    pub fn can_become(self, next: Status) -> bool {
        use Status::*;
        matches!(
            (self, next),
            (Draft, Draft | Active | Archived)
                | (Active, Active | Paused | Archived)
                | (Paused, Paused | Active | Archived)
        )
    }

    /// Checks a transition, naming `field` when it is not allowed.
    pub fn transition(self, next: Status, field: &str) -> Result<Status, ValidationError> {
        if self.can_become(next) {
            Ok(next)
        } else {
            Err(ValidationError::new(
                field,
                format!(
                    "cannot change status from {} to {}",
                    self.as_str(),
                    next.as_str()
                ),
            ))
        }
    }

    /// Checks the status a new object may be created with (archived makes no sense).
    pub fn initial(s: Option<Status>, field: &str) -> Result<Status, ValidationError> {
        match s.unwrap_or(Status::Draft) {
            Status::Archived => Err(ValidationError::new(
                field,
                "a new object cannot start archived",
            )),
            s => Ok(s),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Status::*;
    use super::*;

    #[test]
    fn archived_is_terminal() {
        for s in [Draft, Active, Paused, Archived] {
            assert!(!Archived.can_become(s));
        }
    }

    #[test]
    fn a_draft_cannot_be_paused_before_it_ran() {
        assert!(!Draft.can_become(Paused));
        assert!(Draft.can_become(Active));
        assert!(Active.can_become(Paused));
        assert!(Paused.can_become(Active));
        assert!(!Active.can_become(Draft));
    }

    #[test]
    fn text_form_round_trips() {
        for s in [Draft, Active, Paused, Archived] {
            assert_eq!(Status::parse(s.as_str()), Some(s));
        }
    }
}
