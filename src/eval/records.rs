//! Hand-written serde visitors for the COCO JSON records, so that a shape error names the record
//! and the field (`annotations[3].bbox: invalid length 3, expected an array of length 4 at line 1
//! column 80`) without a second pass or a `serde_json::Value` per record (results files hold
//! millions of detections). Unknown keys are skipped, as pycocotools does.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

/// serde_json appends " at line L column C" to an error and again to any error wrapping it; keep
/// only the outermost position by removing the inner one before wrapping.
fn strip_position(msg: &str) -> &str {
    if let Some(at) = msg.rfind(" at line ") {
        let tail = &msg[at + " at line ".len()..];
        let mut parts = tail.splitn(3, ' ');
        let shaped = matches!(
            (parts.next(), parts.next(), parts.next()),
            (Some(l), Some("column"), Some(c))
                if l.chars().all(|ch| ch.is_ascii_digit()) && c.chars().all(|ch| ch.is_ascii_digit())
        );
        if shaped {
            return &msg[..at];
        }
    }
    msg
}

/// Wraps an error with a prefix (a field name or a record index).
fn wrap<E: de::Error>(prefix: fmt::Arguments<'_>, e: E) -> E {
    let msg = e.to_string();
    let inner = strip_position(&msg);
    let sep = if inner.starts_with('[') || inner.starts_with('.') {
        ""
    } else {
        ": "
    };
    E::custom(format!("{prefix}{sep}{inner}"))
}

/// A record type: its field names and how a map of them builds it.
pub(crate) trait Record: Sized {
    const FIELDS: &'static [&'static str];
    /// What the record is called in "expected ..." messages.
    const EXPECTING: &'static str;
    fn from_map<'de, A: MapAccess<'de>>(map: A) -> Result<Self, A::Error>;
}

/// Resolves a map key to its index in a field list (None: unknown, skipped) without allocating.
struct Key(&'static [&'static str]);

impl<'de> DeserializeSeed<'de> for Key {
    type Value = Option<usize>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_identifier(self)
    }
}

impl<'de> Visitor<'de> for Key {
    type Value = Option<usize>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a field name")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(self.0.iter().position(|f| *f == v))
    }
}

/// Reads the next key of a record's map.
pub(crate) fn next_key<'de, A: MapAccess<'de>>(
    map: &mut A,
    fields: &'static [&'static str],
) -> Result<Option<Option<usize>>, A::Error> {
    map.next_key_seed(Key(fields))
}

/// Reads a field's value; an error names the field.
pub(crate) fn value<'de, T: Deserialize<'de>, A: MapAccess<'de>>(
    map: &mut A,
    field: &str,
) -> Result<T, A::Error> {
    map.next_value::<T>()
        .map_err(|e| wrap(format_args!(".{field}"), e))
}

/// Skips the value of an unknown key.
pub(crate) fn skip<'de, A: MapAccess<'de>>(map: &mut A) -> Result<(), A::Error> {
    map.next_value::<IgnoredAny>().map(|_| ())
}

/// A required field that was absent.
pub(crate) fn required<T, E: de::Error>(v: Option<T>, field: &'static str) -> Result<T, E> {
    v.ok_or_else(|| E::custom(format_args!(".{field}: missing field `{field}`")))
}

/// A 0/1 flag (`iscrowd`, `difficult`): integers as in COCO files (any non-zero is true, as
/// Python's truthiness) or booleans.
pub(crate) struct Flag(pub(crate) bool);

impl<'de> Deserialize<'de> for Flag {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Flag, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Flag;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("0, 1, true or false")
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Flag, E> {
                Ok(Flag(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Flag, E> {
                Ok(Flag(v != 0))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Flag, E> {
                Ok(Flag(v != 0))
            }
        }
        d.deserialize_any(V)
    }
}

/// A list of records; an error names the list and the record index.
pub(crate) struct Records<T>(pub(crate) Vec<T>);

/// Deserializes one record through [`Record::from_map`].
struct One<T>(PhantomData<T>);

impl<'de, T: Record> DeserializeSeed<'de> for One<T> {
    type Value = T;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<T, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de, T: Record> Visitor<'de> for One<T> {
    type Value = T;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(T::EXPECTING)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
        T::from_map(map)
    }
}

impl<'de, T: Record> Deserialize<'de> for Records<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: Record> Visitor<'de> for V<T> {
            type Value = Records<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                write!(f, "a list of {}", T::EXPECTING)
            }
            fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<Records<T>, S::Error> {
                let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1 << 20));
                loop {
                    let i = out.len();
                    match seq.next_element_seed(One::<T>(PhantomData)) {
                        Ok(Some(r)) => out.push(r),
                        Ok(None) => return Ok(Records(out)),
                        Err(e) => return Err(wrap(format_args!("[{i}]"), e)),
                    }
                }
            }
        }
        d.deserialize_seq(V(PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use super::strip_position;

    #[test]
    fn strips_only_a_trailing_position() {
        assert_eq!(strip_position("bad at line 3 column 14"), "bad");
        assert_eq!(strip_position("bad at line three"), "bad at line three");
        assert_eq!(strip_position("x"), "x");
    }
}
