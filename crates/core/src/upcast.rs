//! Upcasting: events are stored forever, and their shapes change. A domain says, per event type, which schema
//! version it writes now ([`DomainEvent::current_schema_version`]) and how a payload of version n becomes version
//! n+1 ([`DomainEvent::upcast`]). Every reader — the command loop's load, the denormalisers, rebuilds, process
//! managers — decodes stored payloads through [`decode_event`], so it only ever sees the current shape; what is
//! stored is never rewritten.

use crate::decider::DomainEvent;
pub use crate::decider::StoredShape;
use crate::metadata::EventMetadata;
use serde_json::Value;

/// Why a stored payload cannot be read as a current event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("{event_type} v{from}: upcasting to v{} failed: {reason}", from + 1)]
    Upcast {
        event_type: String,
        from: u32,
        reason: String,
    },
    #[error("{event_type} v{stored} does not decode as the current shape (v{current}): {reason}")]
    Shape {
        event_type: String,
        stored: u32,
        current: u32,
        reason: String,
    },
    #[error("stored as {stored_type}, but the payload decodes as {decoded_type}")]
    TypeMismatch {
        stored_type: String,
        decoded_type: String,
    },
}

/// Decode a stored payload of `event_type` at `schema_version` as the current event: upcast it one version at a
/// time up to [`DomainEvent::current_schema_version`], then deserialize it. A payload newer than this build knows
/// (written by a newer release during a deploy) is decoded as it is, and refused if it does not fit. The event
/// decoded must carry the stored type name. Returns the event and the schema version it now has.
pub fn decode_event<E: DomainEvent>(
    event_type: &str,
    schema_version: u32,
    metadata: &EventMetadata,
    mut payload: Value,
) -> Result<(E, u32), DecodeError> {
    let current = E::current_schema_version(event_type);
    let mut version = schema_version;
    while version < current {
        let shape = StoredShape {
            event_type,
            schema_version: version,
            metadata,
        };
        payload = E::upcast(shape, payload).map_err(|reason| DecodeError::Upcast {
            event_type: event_type.to_owned(),
            from: version,
            reason,
        })?;
        version += 1;
    }
    let event = named(
        event_type,
        serde_json::from_value(payload).map_err(|e| DecodeError::Shape {
            event_type: event_type.to_owned(),
            stored: schema_version,
            current,
            reason: e.to_string(),
        })?,
    )?;
    Ok((event, version.max(schema_version)))
}

/// [`decode_event`] from the payload's JSON text: a payload already in the current shape (the common case) is
/// deserialized straight from the text, without building a `serde_json::Value` first.
pub fn decode_event_json<E: DomainEvent>(
    event_type: &str,
    schema_version: u32,
    metadata: &EventMetadata,
    json: &str,
) -> Result<(E, u32), DecodeError> {
    let current = E::current_schema_version(event_type);
    let shape = |e: serde_json::Error| DecodeError::Shape {
        event_type: event_type.to_owned(),
        stored: schema_version,
        current,
        reason: e.to_string(),
    };
    if schema_version >= current {
        let event = named(event_type, serde_json::from_str(json).map_err(shape)?)?;
        return Ok((event, schema_version));
    }
    let payload = serde_json::from_str(json).map_err(shape)?;
    decode_event(event_type, schema_version, metadata, payload)
}

/// `event`, if it carries the type name it was stored under.
fn named<E: DomainEvent>(event_type: &str, event: E) -> Result<E, DecodeError> {
    if event.event_type() != event_type {
        return Err(DecodeError::TypeMismatch {
            stored_type: event_type.to_owned(),
            decoded_type: event.event_type().to_owned(),
        });
    }
    Ok(event)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use serde::{Deserialize, Serialize};
    use serde_json::json;
    use uuid::Uuid;

    /// `Paid` went through three shapes: v1 `{cents}`, v2 `{amount}` (renamed), v3 `{amount, payer}` (the payer
    /// taken from the metadata's actor).
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    #[serde(tag = "type", deny_unknown_fields)]
    enum Event {
        Paid { amount: u64, payer: String },
        Noted,
    }
    impl DomainEvent for Event {
        fn event_type(&self) -> &'static str {
            match self {
                Self::Paid { .. } => "Paid",
                Self::Noted => "Noted",
            }
        }
        fn current_schema_version(event_type: &str) -> u32 {
            if event_type == "Paid" {
                3
            } else {
                1
            }
        }
        fn upcast(from: StoredShape<'_>, mut payload: Value) -> Result<Value, String> {
            let fields = payload.as_object_mut().ok_or("not an object")?;
            match from.schema_version {
                1 => {
                    let cents = fields.remove("cents").ok_or("no cents")?;
                    fields.insert("amount".into(), cents);
                }
                2 => {
                    fields.insert("payer".into(), from.metadata.actor.clone().into());
                }
                v => return Err(format!("no step from v{v}")),
            }
            Ok(payload)
        }
    }

    fn metadata() -> EventMetadata {
        EventMetadata {
            event_id: Uuid::nil(),
            command_id: Uuid::nil(),
            correlation_id: "c".into(),
            causation_id: "c".into(),
            occurred_at: Utc::now(),
            actor: "alice".into(),
            idempotency_key: None,
            request_fingerprint: None,
            traceparent: None,
        }
    }

    #[test]
    fn every_stored_version_reads_as_the_current_shape() {
        let m = metadata();
        let current = Event::Paid {
            amount: 5,
            payer: "alice".into(),
        };
        let v1 = json!({"type": "Paid", "cents": 5});
        let v2 = json!({"type": "Paid", "amount": 5});
        let v3 = json!({"type": "Paid", "amount": 5, "payer": "alice"});
        for (version, payload) in [(1, v1), (2, v2), (3, v3)] {
            assert_eq!(
                decode_event::<Event>("Paid", version, &m, payload),
                Ok((current.clone(), 3))
            );
        }
        assert_eq!(current.schema_version(), 3);
        assert_eq!(Event::Noted.schema_version(), 1);
        assert_eq!(
            decode_event::<Event>("Noted", 1, &m, json!({"type": "Noted"})),
            Ok((Event::Noted, 1))
        );
    }

    #[test]
    fn the_json_text_reads_the_same() {
        let m = metadata();
        for (version, payload) in [
            (1, json!({"type": "Paid", "cents": 5})),
            (3, json!({"type": "Paid", "amount": 5, "payer": "alice"})),
            (3, json!({"type": "Noted"})),
            (3, json!({"type": "Paid", "amount": 5})),
        ] {
            assert_eq!(
                decode_event_json::<Event>("Paid", version, &m, &payload.to_string()),
                decode_event::<Event>("Paid", version, &m, payload)
            );
        }
        assert!(decode_event_json::<Event>("Paid", 3, &m, "not json").is_err());
    }

    #[test]
    fn a_failed_step_a_wrong_shape_and_a_wrong_name_are_errors() {
        let m = metadata();
        assert!(matches!(
            decode_event::<Event>("Paid", 1, &m, json!({"type": "Paid"})),
            Err(DecodeError::Upcast { from: 1, .. })
        ));
        assert!(matches!(
            decode_event::<Event>("Paid", 3, &m, json!({"type": "Paid", "amount": 5})),
            Err(DecodeError::Shape {
                stored: 3,
                current: 3,
                ..
            })
        ));
        assert!(matches!(
            decode_event::<Event>("Paid", 1, &m, json!({"type": "Noted"})),
            Err(DecodeError::Upcast { .. })
        ));
        assert!(matches!(
            decode_event::<Event>(
                "Noted",
                1,
                &m,
                json!({"type": "Paid", "amount": 1, "payer": "a"})
            ),
            Err(DecodeError::TypeMismatch { .. })
        ));
    }

    #[test]
    fn a_payload_newer_than_this_build_is_read_if_it_fits() {
        let m = metadata();
        let paid = json!({"type": "Paid", "amount": 1, "payer": "a"});
        assert_eq!(
            decode_event::<Event>("Paid", 4, &m, paid),
            Ok((
                Event::Paid {
                    amount: 1,
                    payer: "a".into()
                },
                4
            ))
        );
        let grown = json!({"type": "Paid", "amount": 1, "payer": "a", "memo": "new in v4"});
        assert!(matches!(
            decode_event::<Event>("Paid", 4, &m, grown),
            Err(DecodeError::Shape {
                stored: 4,
                current: 3,
                ..
            })
        ));
    }
}
