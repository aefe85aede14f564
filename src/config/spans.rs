//! Where each key of a parsed TOML document is: the bridge from a key path
//! (`forward.routes[2].port`) to a line number, and from a byte offset (of a
//! serde error) back to a key path.
//!
//! Built once per parse from toml_edit's [`ImDocument`], which keeps the byte
//! span of every key, value and table header. Paths are written the way
//! errors name them: dotted keys, `[i]` for array (and array-of-tables) elements.

use std::ops::Range;

use toml_edit::{ImDocument, InlineTable, Item, Table, Value};

/// One key, array element or table of the document.
#[derive(Debug)]
struct Node {
    path: String,
    /// The key itself (`lcores` in `lcores = "0-1"`); `None` for array elements.
    key: Option<Range<usize>>,
    /// The value, or for a `[table]` its header through its last value.
    value: Option<Range<usize>>,
}

/// Key paths and their byte spans, plus line starts to turn spans into lines.
#[derive(Debug)]
pub(super) struct SpanIndex {
    nodes: Vec<Node>,
    /// Byte offset of the first character of each line.
    line_starts: Vec<usize>,
}

impl SpanIndex {
    /// Indexes every key of `doc`, which was parsed from `text`.
    pub(super) fn new(doc: &ImDocument<String>, text: &str) -> Self {
        let mut nodes = Vec::new();
        walk_table(doc.as_table(), "", &mut nodes);
        SpanIndex {
            nodes,
            line_starts: line_starts(text),
        }
    }

    /// Only line numbers, for text that did not parse.
    pub(super) fn lines_only(text: &str) -> Self {
        SpanIndex {
            nodes: Vec::new(),
            line_starts: line_starts(text),
        }
    }

    /// The 1-based line holding byte `offset`.
    pub(super) fn line_of(&self, offset: usize) -> usize {
        self.line_starts.partition_point(|&start| start <= offset)
    }

    /// The line to report for an error about `path`: the line of its key
    /// (or element); for a key the file does not contain (a default), the
    /// line of the nearest enclosing key or table that it does contain.
    pub(super) fn line_for_path(&self, path: &str) -> Option<usize> {
        let mut p = path;
        loop {
            if let Some(node) = self.nodes.iter().find(|n| n.path == p) {
                if let Some(span) = node.key.as_ref().or(node.value.as_ref()) {
                    return Some(self.line_of(span.start));
                }
            }
            p = parent(p)?;
        }
    }

    /// The innermost key whose key or value span holds byte `offset`.
    pub(super) fn path_at(&self, offset: usize) -> Option<&str> {
        let holds = |r: &Option<Range<usize>>| {
            r.as_ref()
                .filter(|r| r.start <= offset && offset < r.end.max(r.start + 1))
                .map(|r| r.end - r.start)
        };
        // Children are pushed after their parents: on equal widths (an array
        // of one table spans what its element spans) prefer the deeper key.
        self.nodes
            .iter()
            .rev()
            .filter_map(|n| {
                let width = match (holds(&n.key), holds(&n.value)) {
                    (Some(a), Some(b)) => a.min(b),
                    (a, b) => a.or(b)?,
                };
                Some((width, n))
            })
            .min_by_key(|(width, _)| *width)
            .map(|(_, n)| n.path.as_str())
    }
}

/// `a.b[2].c` -> `a.b[2]` -> `a.b` -> `a` -> None.
fn parent(path: &str) -> Option<&str> {
    if path.ends_with(']') {
        return path.rfind('[').map(|i| &path[..i]);
    }
    path.rfind('.').map(|i| &path[..i])
}

fn line_starts(text: &str) -> Vec<usize> {
    std::iter::once(0)
        .chain(text.match_indices('\n').map(|(i, _)| i + 1))
        .collect()
}

fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_owned()
    } else {
        format!("{prefix}.{key}")
    }
}

fn walk_table(table: &Table, prefix: &str, out: &mut Vec<Node>) {
    for (key, item) in table.iter() {
        let path = join(prefix, key);
        let key_span = table.key(key).and_then(|k| k.span());
        match item {
            Item::None => {}
            Item::Value(v) => {
                out.push(Node {
                    path: path.clone(),
                    key: key_span,
                    value: v.span(),
                });
                walk_value(v, &path, out);
            }
            Item::Table(t) => {
                out.push(Node {
                    path: path.clone(),
                    key: key_span,
                    value: t.span(),
                });
                walk_table(t, &path, out);
            }
            Item::ArrayOfTables(a) => {
                out.push(Node {
                    path: path.clone(),
                    key: key_span,
                    value: a.span(),
                });
                for (i, t) in a.iter().enumerate() {
                    let elem = format!("{path}[{i}]");
                    out.push(Node {
                        path: elem.clone(),
                        key: None,
                        value: t.span(),
                    });
                    walk_table(t, &elem, out);
                }
            }
        }
    }
}

fn walk_value(value: &Value, path: &str, out: &mut Vec<Node>) {
    match value {
        Value::Array(a) => {
            for (i, v) in a.iter().enumerate() {
                let elem = format!("{path}[{i}]");
                out.push(Node {
                    path: elem.clone(),
                    key: None,
                    value: v.span(),
                });
                walk_value(v, &elem, out);
            }
        }
        Value::InlineTable(t) => walk_inline_table(t, path, out),
        _ => {}
    }
}

fn walk_inline_table(table: &InlineTable, prefix: &str, out: &mut Vec<Node>) {
    for (key, value) in table.iter() {
        let path = join(prefix, key);
        out.push(Node {
            path: path.clone(),
            key: table.key(key).and_then(|k| k.span()),
            value: value.span(),
        });
        walk_value(value, &path, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = r#"# comment
[eal]
lcores = "0-1"

[[ports]]
name = "wan"

[[ports]]
name = "lan"
mac = "02:00:00:00:00:02"

[workers]
lcores = [
  1,
  2,
]

[overload.filter]
when = "always"
rules = [{ name = "a", action = "pass" }]
"#;

    fn index() -> SpanIndex {
        let doc = ImDocument::parse(DOC.to_owned()).unwrap();
        SpanIndex::new(&doc, DOC)
    }

    #[test]
    fn lines_of_keys_elements_and_tables() {
        let ix = index();
        assert_eq!(ix.line_for_path("eal"), Some(2));
        assert_eq!(ix.line_for_path("eal.lcores"), Some(3));
        assert_eq!(ix.line_for_path("ports[0]"), Some(5));
        assert_eq!(ix.line_for_path("ports[1].name"), Some(9));
        assert_eq!(ix.line_for_path("ports[1].mac"), Some(10));
        assert_eq!(ix.line_for_path("workers.lcores[1]"), Some(15));
        assert_eq!(ix.line_for_path("overload.filter.when"), Some(19));
        assert_eq!(
            ix.line_for_path("overload.filter.rules[0].action"),
            Some(20)
        );
    }

    #[test]
    fn missing_keys_fall_back_to_the_nearest_ancestor() {
        let ix = index();
        // Not in the file: a default.
        assert_eq!(ix.line_for_path("ports[1].mtu"), Some(8));
        assert_eq!(ix.line_for_path("eal.main_lcore"), Some(2));
        assert_eq!(ix.line_for_path("napi.weight"), None);
        assert_eq!(ix.line_for_path(""), None);
    }

    #[test]
    fn offsets_map_to_the_innermost_key() {
        let ix = index();
        let at = |needle: &str| ix.path_at(DOC.find(needle).unwrap());
        assert_eq!(at("\"0-1\""), Some("eal.lcores"));
        assert_eq!(at("mac ="), Some("ports[1].mac"));
        assert_eq!(at("2,\n]"), Some("workers.lcores[1]"));
        assert_eq!(at("\"pass\""), Some("overload.filter.rules[0].action"));
        assert_eq!(at("name = \"wan\""), Some("ports[0].name"));
        // `[[ports]]` #1 spans exactly what `ports` would if it were alone.
        assert_eq!(at("[[ports]]\nname = \"lan\""), Some("ports[1]"));
        assert_eq!(at("# comment"), None);
    }

    #[test]
    fn line_of_offsets() {
        let ix = SpanIndex::lines_only("a\nbb\n\nc");
        assert_eq!(ix.line_of(0), 1);
        assert_eq!(ix.line_of(1), 1); // the '\n' ends line 1
        assert_eq!(ix.line_of(2), 2);
        assert_eq!(ix.line_of(5), 3);
        assert_eq!(ix.line_of(6), 4);
    }

    #[test]
    fn parents() {
        assert_eq!(parent("a.b[2].c"), Some("a.b[2]"));
        assert_eq!(parent("a.b[2]"), Some("a.b"));
        assert_eq!(parent("a.b"), Some("a"));
        assert_eq!(parent("a"), None);
    }
}
