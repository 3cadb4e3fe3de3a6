//! The comment rules of `example`, one at a time, and on the real file.

use super::*;

fn p(lines: &[&str]) -> Para {
    lines.iter().map(|l| l.to_string()).collect()
}

fn parsed(text: &str) -> Example {
    parse(text).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn lines_are_classified() {
    let key = |name: &str, value: &str, trailing: Option<&str>, commented| Line::Key {
        name: name.into(),
        value: value.into(),
        trailing: trailing.map(String::from),
        commented,
    };
    assert_eq!(classify("").unwrap(), Line::Blank);
    assert_eq!(classify("#").unwrap(), Line::Break);
    assert_eq!(classify("# #").unwrap(), Line::Break);
    assert_eq!(classify("# Some text.").unwrap(), Line::Doc("Some text.".into()));
    assert_eq!(
        classify("#   - a list item").unwrap(),
        Line::Doc("  - a list item".into())
    );
    assert_eq!(
        classify("# # Second level.").unwrap(),
        Line::Doc("Second level.".into())
    );
    assert_eq!(classify("# 0 = drop all").unwrap(), Line::Doc("0 = drop all".into()));
    assert_eq!(
        classify("# [node.location] as JSON.").unwrap(),
        Line::Doc("[node.location] as JSON.".into())
    );
    assert_eq!(classify("# a = not toml").unwrap(), Line::Doc("a = not toml".into()));
    assert_eq!(
        classify("[dns.rrl]").unwrap(),
        Line::Header {
            name: "dns.rrl".into(),
            array: false,
            commented: false
        }
    );
    assert_eq!(
        classify("# [[tsig-key]]").unwrap(),
        Line::Header {
            name: "tsig-key".into(),
            array: true,
            commented: true
        }
    );
    assert_eq!(
        classify("udp-payload = 1232").unwrap(),
        key("udp-payload", "1232", None, false)
    );
    assert_eq!(
        classify("# max-out = 32      # transfers out # at once").unwrap(),
        key("max-out", "32", Some("transfers out # at once"), true)
    );
    assert_eq!(
        classify(r#"probe = "a # b"  # the probe"#).unwrap(),
        key("probe", "\"a # b\"", Some("the probe"), false)
    );
    assert_eq!(
        classify("                  # default bgp.prepend").unwrap(),
        Line::Continuation("default bgp.prepend".into())
    );
    assert_eq!(
        classify("#                 # hmac-sha384").unwrap(),
        Line::Continuation("hmac-sha384".into())
    );
    assert!(classify("what is this").is_err());
    assert!(classify("Key = 1").is_err());
}

#[test]
fn opening_comment_is_the_description() {
    let e = parsed("# Title.\n#\n# More\n# text.\n\n[a]\nk = 1\n");
    assert_eq!(e.description, vec![p(&["Title."]), p(&["More", "text."])]);
    assert_eq!(e.sections.len(), 1);
    assert!(e.sections[0].doc.is_empty());
}

#[test]
fn a_block_above_a_run_documents_every_key_of_it() {
    let e = parsed("[a]\n# Both.\nx = 1\n# y = 2  # and y\n\nz = 3\n");
    let a = e.section("a").unwrap();
    assert_eq!(a.key("x").unwrap().doc, vec![p(&["Both."])]);
    assert_eq!(a.key("y").unwrap().doc, vec![p(&["Both."]), p(&["and y"])]);
    assert!(a.key("y").unwrap().commented);
    assert!(!a.key("x").unwrap().commented);
    assert!(a.key("z").unwrap().doc.is_empty(), "a blank line ends the run");
}

#[test]
fn trailing_comments_continue() {
    let text = "[a]\nx = 1   # one,\n        # two\n# y = 2 # three\n#       # four\nz = 3\n";
    let a = parsed(text).sections.remove(0);
    assert_eq!(a.key("x").unwrap().doc, vec![p(&["one, two"])]);
    assert_eq!(a.key("y").unwrap().doc, vec![p(&["three four"])]);
    assert!(a.key("z").unwrap().doc.is_empty());
}

#[test]
fn blocks_before_a_header_document_the_table() {
    let text = "[a]\nx = 1\n\n# About b.\n#\n# More on b.\n#\n# [[b]]\n# # The name.\n# name = \"n\"\n";
    let e = parsed(text);
    let b = e.section("b").unwrap();
    assert!(b.array && b.commented);
    assert_eq!(b.doc, vec![p(&["About b."]), p(&["More on b."])]);
    assert_eq!(b.key("name").unwrap().doc, vec![p(&["The name."])]);
    assert_eq!(b.key("name").unwrap().value, "\"n\"");
    assert!(e.section("a").unwrap().doc.is_empty());
}

#[test]
fn loose_paragraphs_belong_to_the_current_table() {
    // One ends in a blank line; one is followed by `#` and then a key's
    // own doc.
    let text = "[a]\nx = 1\n#\n# Loose one.\n#\n# # Of y.\n# y = 2\n# # Loose two.\n\n[b]\n";
    let e = parsed(text);
    let a = e.section("a").unwrap();
    assert_eq!(a.doc, vec![p(&["Loose one."]), p(&["Loose two."])]);
    // In the file's order: x, the first loose paragraph, y, the second.
    assert_eq!(a.order, [Entry::Key(0), Entry::Para(0), Entry::Key(1), Entry::Para(1)]);
    assert_eq!(a.key("y").unwrap().doc, vec![p(&["Of y."])]);
    assert!(e.section("b").unwrap().doc.is_empty());
}

#[test]
fn repeated_tables_and_keys_merge() {
    let text = "[[z]]\nname = \"a\"\n\n# Second.\n# [[z]]\n# # Its name.\n# name = \"b\"\n# # Other.\n# name = \"c\"\n# # Its name.\n# name = \"d\"\n";
    let e = parsed(text);
    assert_eq!(e.sections.len(), 1);
    let z = &e.sections[0];
    assert!(!z.commented, "one [[z]] is active");
    assert_eq!(z.doc, vec![p(&["Second."])]);
    let name = z.key("name").unwrap();
    assert_eq!(name.doc, vec![p(&["Its name."]), p(&["Other."])]);
    assert_eq!(name.value, "\"b\"", "the first documented value");
    assert!(!name.commented);
}

#[test]
fn errors_name_the_line() {
    let e = parse("# x\n\nk = 1\n").unwrap_err();
    assert_eq!(e.line, 3);
    assert!(e.to_string().contains("before any table"), "{e}");
    let e = parse("[a]\n[[a]]\n").unwrap_err();
    assert_eq!(e.line, 2);
    let e = parse("[a]\nnot a line\n").unwrap_err();
    assert!(e.to_string().contains("line 2"), "{e}");
}

#[test]
fn the_real_example_parses() {
    let text = include_str!("../../config.example.toml");
    let e = parsed(text);
    assert!(e.description.len() >= 3);
    let names: Vec<&str> = e.sections.iter().map(|s| s.name.as_str()).collect();
    for want in [
        "node", "dns.rrl", "tsig-key", "zone", "template", "transfer", "bgp.peer", "identity",
    ] {
        assert!(names.contains(&want), "{want} missing from {names:?}");
    }
    let peer = e.section("bgp.peer").unwrap();
    let prepend = &peer.key("prepend").unwrap().doc;
    assert!(
        prepend
            .iter()
            .flatten()
            .any(|l| l.contains("0..=16; default bgp.prepend")),
        "{prepend:?}"
    );
    let algorithm = &e.section("tsig-key").unwrap().key("algorithm").unwrap().doc;
    assert!(
        algorithm
            .iter()
            .flatten()
            .any(|l| l.contains("hmac-sha256, hmac-sha384")),
        "{algorithm:?}"
    );
    assert!(e.section("transfer").unwrap().commented);
    assert!(!e.section("zone").unwrap().commented);
}
