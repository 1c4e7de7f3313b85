//! The query parameters of OSB requests: `accepts_incomplete`, `service_id`, `plan_id`,
//! `operation`.
//!
//! Empty values are absent (osb-core rules.md §4); values are percent-decoded (`+` is a space,
//! as form encoding has it); unknown parameters are ignored; the first of repeated ones wins.

use std::borrow::Cow;

use osb_core::BrokerError;

/// The parsed query of one request.
#[derive(Debug, Default)]
pub(crate) struct Query {
    pub(crate) accepts_incomplete: bool,
    pub(crate) service_id: Option<String>,
    pub(crate) plan_id: Option<String>,
    pub(crate) operation: Option<String>,
}

impl Query {
    /// Parses a raw query string (without `?`).
    ///
    /// # Errors
    ///
    /// 400 when `accepts_incomplete` is neither `true` nor `false`, or a value is not UTF-8.
    pub(crate) fn parse(raw: Option<&str>) -> Result<Self, BrokerError> {
        let mut query = Self::default();
        let Some(raw) = raw else {
            return Ok(query);
        };
        let mut accepts_incomplete = None;
        // A plain byte scan: on queries this short it beats `split('&')`'s memchr set-up.
        let mut rest = raw;
        while !rest.is_empty() {
            let end = rest.bytes().position(|b| b == b'&').unwrap_or(rest.len());
            let (pair, tail) = rest.split_at(end);
            rest = tail.get(1..).unwrap_or_default();
            let (key, value) = match pair.bytes().position(|b| b == b'=') {
                Some(at) => (
                    pair.get(..at).unwrap_or_default(),
                    pair.get(at + 1..).unwrap_or_default(),
                ),
                None => (pair, ""),
            };
            let slot = match key {
                "accepts_incomplete" => {
                    if accepts_incomplete.is_none() && !value.is_empty() {
                        accepts_incomplete = Some(decode(key, value)?);
                    }
                    continue;
                }
                "service_id" => &mut query.service_id,
                "plan_id" => &mut query.plan_id,
                "operation" => &mut query.operation,
                _ => continue,
            };
            if slot.is_none() && !value.is_empty() {
                *slot = Some(decode(key, value)?.into_owned());
            }
        }
        query.accepts_incomplete = match accepts_incomplete.as_deref() {
            None => false,
            Some(v) if v.eq_ignore_ascii_case("true") => true,
            Some(v) if v.eq_ignore_ascii_case("false") => false,
            Some(_) => {
                return Err(BrokerError::bad_request(
                    "The accepts_incomplete query parameter must be true or false.",
                ));
            }
        };
        Ok(query)
    }

    /// `service_id` and `plan_id`, both required (deprovision and unbind; presence only).
    pub(crate) fn required_ids(&mut self) -> Result<(String, String), BrokerError> {
        match (self.service_id.take(), self.plan_id.take()) {
            (Some(service_id), Some(plan_id)) => Ok((service_id, plan_id)),
            (None, Some(_)) => Err(missing("service_id")),
            (Some(_), None) => Err(missing("plan_id")),
            (None, None) => Err(BrokerError::bad_request(
                "The service_id and plan_id query parameters are required.",
            )),
        }
    }
}

fn missing(name: &str) -> BrokerError {
    BrokerError::bad_request(format!("The {name} query parameter is required."))
}

fn decode<'a>(key: &str, value: &'a str) -> Result<Cow<'a, str>, BrokerError> {
    crate::percent::decode(value, true).map_err(|problem| {
        BrokerError::bad_request(format!("The {key} query parameter {}.", problem.describe()))
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests: a panic is the failure report
mod tests {
    use super::*;

    #[test]
    fn parses_known_parameters_and_ignores_others() {
        let q = Query::parse(Some(
            "accepts_incomplete=true&service_id=s%201&plan_id=p+2&operation=op%2F1&x=y",
        ))
        .unwrap();
        assert!(q.accepts_incomplete);
        assert_eq!(q.service_id.as_deref(), Some("s 1"));
        assert_eq!(q.plan_id.as_deref(), Some("p 2"));
        assert_eq!(q.operation.as_deref(), Some("op/1"));
    }

    #[test]
    fn empty_values_are_missing() {
        let q = Query::parse(Some("accepts_incomplete=&service_id=&plan_id&operation=")).unwrap();
        assert!(!q.accepts_incomplete);
        assert!(q.service_id.is_none() && q.plan_id.is_none() && q.operation.is_none());
    }

    #[test]
    fn accepts_incomplete_must_be_boolean() {
        assert!(
            !Query::parse(Some("accepts_incomplete=false"))
                .unwrap()
                .accepts_incomplete
        );
        assert!(
            Query::parse(Some("accepts_incomplete=TRUE"))
                .unwrap()
                .accepts_incomplete
        );
        for bad in ["yes", "1", "tru"] {
            let err = Query::parse(Some(&format!("accepts_incomplete={bad}"))).unwrap_err();
            assert_eq!(err.status(), http::StatusCode::BAD_REQUEST);
        }
    }

    #[test]
    fn required_ids_name_the_missing_one() {
        let mut q = Query::parse(Some("service_id=s")).unwrap();
        assert!(
            q.required_ids()
                .unwrap_err()
                .description()
                .contains("plan_id")
        );
        let mut q = Query::parse(Some("service_id=s&plan_id=p")).unwrap();
        assert_eq!(q.required_ids().unwrap(), ("s".to_owned(), "p".to_owned()));
    }
}
