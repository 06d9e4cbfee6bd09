//! Reading the fields of a JSON object body while collecting *every*
//! problem, so one 422 response lists all the bad fields at once.
//!
//! serde's derive would stop at the first error and cannot tell a missing
//! field from an explicit `null`, which JSON Merge Patch depends on; so
//! bodies are parsed as `serde_json::Value` and read field by field here.

use serde_json::{Map, Value};

use crate::error::{ApiError, FieldError};

/// One field of the body: absent, explicitly `null`, or a value of the
/// expected type. A value of the wrong type is recorded as an error and
/// reads as `Invalid`, so callers simply skip it.
#[derive(Debug, PartialEq, Eq)]
pub enum Field<T> {
    Absent,
    Null,
    Value(T),
    Invalid,
}

/// A JSON object being read, with the errors found so far.
pub struct Input {
    object: Map<String, Value>,
    errors: Vec<FieldError>,
}

impl Input {
    /// Starts reading `object`. Every field not in `known` is an error unless
    /// it is in `ignored` (read-only fields a client may echo back).
    pub fn new(object: Map<String, Value>, known: &[&str], ignored: &[&str]) -> Input {
        let errors = object
            .keys()
            .filter(|name| !known.contains(&name.as_str()) && !ignored.contains(&name.as_str()))
            .map(|name| FieldError::new(name, "unknown field"))
            .collect();
        Input { object, errors }
    }

    /// Records a problem with `field`.
    pub fn error(&mut self, field: &str, message: impl Into<String>) {
        self.errors.push(FieldError::new(field, message));
    }

    /// Whether a problem with `field` has been recorded.
    pub fn has_error(&self, field: &str) -> bool {
        self.errors.iter().any(|error| error.field == field)
    }

    /// A string field.
    pub fn string(&mut self, field: &str) -> Field<String> {
        match self.object.remove(field) {
            None => Field::Absent,
            Some(Value::Null) => Field::Null,
            Some(Value::String(text)) => Field::Value(text),
            Some(_) => self.wrong_type(field, "must be a string"),
        }
    }

    /// An array field.
    pub fn array(&mut self, field: &str) -> Field<Vec<Value>> {
        match self.object.remove(field) {
            None => Field::Absent,
            Some(Value::Null) => Field::Null,
            Some(Value::Array(values)) => Field::Value(values),
            Some(_) => self.wrong_type(field, "must be an array"),
        }
    }

    /// A boolean field.
    pub fn boolean(&mut self, field: &str) -> Field<bool> {
        match self.object.remove(field) {
            None => Field::Absent,
            Some(Value::Null) => Field::Null,
            Some(Value::Bool(flag)) => Field::Value(flag),
            Some(_) => self.wrong_type(field, "must be true or false"),
        }
    }

    /// An integer field. As in JSON Schema, `3.0` and `3e0` are the integer
    /// 3; `1.5` and numbers beyond 64 bits are errors.
    pub fn integer(&mut self, field: &str) -> Field<i64> {
        match self.object.remove(field) {
            None => Field::Absent,
            Some(Value::Null) => Field::Null,
            Some(Value::Number(number)) => match whole_number(&number) {
                Some(value) => Field::Value(value),
                None => self.wrong_type(field, "must be a whole number within 64 bits"),
            },
            Some(_) => self.wrong_type(field, "must be a whole number"),
        }
    }

    /// A required-if-present, non-blank string of at most `max` characters
    /// (a title, a name). `None` when absent or bad; `null` is an error.
    pub fn name(&mut self, field: &str, max: usize) -> Option<String> {
        match self.string(field) {
            Field::Value(text) => {
                if text.trim().is_empty() {
                    self.error(field, "must not be blank");
                } else if text.chars().count() > max {
                    self.error(field, format!("must be at most {max} characters"));
                } else {
                    self.refuse_nul(field, &text);
                }
                Some(text)
            }
            Field::Null => {
                self.error(field, "must not be null");
                None
            }
            Field::Absent | Field::Invalid => None,
        }
    }

    /// A string of at most `max` characters, or `null`: `Some(None)` for
    /// `null`, `None` when absent or bad.
    pub fn nullable_text(&mut self, field: &str, max: usize) -> Option<Option<String>> {
        match self.string(field) {
            Field::Value(text) => {
                if text.chars().count() > max {
                    self.error(field, format!("must be at most {max} characters"));
                } else {
                    self.refuse_nul(field, &text);
                }
                Some(Some(text))
            }
            Field::Null => Some(None),
            Field::Absent | Field::Invalid => None,
        }
    }

    /// Text that is stored must not hold NUL: PostgreSQL refuses it in
    /// text, and SQLite should not differ. (Passwords, which are only
    /// hashed, and login names, which are only looked up, may.)
    fn refuse_nul(&mut self, field: &str, text: &str) {
        if text.contains('\0') {
            self.error(field, "must not contain the NUL character");
        }
    }

    fn wrong_type<T>(&mut self, field: &str, message: &str) -> Field<T> {
        self.error(field, message);
        Field::Invalid
    }

    /// `Ok(value)` if no field was bad, else a 422 listing every bad field.
    pub fn finish<T>(self, value: T) -> Result<T, ApiError> {
        if self.errors.is_empty() {
            Ok(value)
        } else {
            Err(ApiError::Validation(self.errors))
        }
    }
}

/// A JSON number as an i64 if it is a whole number that fits.
///
/// serde_json keeps integer literals that fit in 64 bits exactly and turns
/// everything else into an f64. A float counts only below 2^53, where every
/// whole number is exact: beyond it, `-9223372036854775809` would round to
/// a value that fits and be silently changed.
fn whole_number(number: &serde_json::Number) -> Option<i64> {
    if let Some(value) = number.as_i64() {
        return Some(value);
    }
    const EXACT: f64 = 9_007_199_254_740_992.0; // 2^53
    let float = number.as_f64()?;
    (float.fract() == 0.0 && float.abs() < EXACT).then_some(float as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn input(value: Value, known: &[&str]) -> Input {
        match value {
            Value::Object(object) => Input::new(object, known, &["id"]),
            _ => unreachable!("tests pass objects"),
        }
    }

    #[test]
    fn fields_distinguish_absent_null_and_values() {
        let mut input = input(json!({"a": "x", "b": null, "id": 3}), &["a", "b", "c"]);
        assert_eq!(input.string("a"), Field::Value("x".to_owned()));
        assert_eq!(input.string("b"), Field::Null);
        assert_eq!(input.string("c"), Field::Absent);
        assert!(input.finish(()).is_ok());
    }

    #[test]
    fn whole_floats_are_integers_and_fractions_are_not() {
        let mut input = input(
            json!({"a": 3.0, "b": 1.5, "c": 1e300, "d": -2, "e": -9_223_372_036_854_775_809.0}),
            &["a", "b", "c", "d", "e"],
        );
        assert_eq!(input.integer("a"), Field::Value(3));
        assert_eq!(input.integer("b"), Field::Invalid);
        assert_eq!(input.integer("c"), Field::Invalid);
        assert_eq!(input.integer("d"), Field::Value(-2));
        assert_eq!(input.integer("e"), Field::Invalid);
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let mut input = input(json!({"n": 1.5, "s": 3, "typo": true}), &["n", "s"]);
        assert_eq!(input.integer("n"), Field::Invalid);
        assert_eq!(input.string("s"), Field::Invalid);
        let Err(ApiError::Validation(errors)) = input.finish(()) else {
            panic!("expected a validation error");
        };
        let mut fields: Vec<&str> = errors.iter().map(|error| error.field.as_str()).collect();
        fields.sort_unstable();
        assert_eq!(fields, ["n", "s", "typo"]);
    }
}
