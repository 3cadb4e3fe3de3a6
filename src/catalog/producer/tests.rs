use super::*;

fn set(list: &[(&str, Option<&str>)]) -> Members {
    list.iter().map(|(n, g)| (n.to_string(), g.map(String::from))).collect()
}

#[test]
fn labels_depend_on_the_name_only() {
    let a = label("customer.example");
    assert_eq!(a.len(), 16);
    assert!(a.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(a, label("Customer.Example"));
    assert_ne!(a, label("customer2.example"));
    // Fixed forever: a change would reset every member on every node
    // (SHA-256 of \x08customer\x07example\x00, first 8 octets).
    assert_eq!(label("customer.example"), "ca049950da335042");
}

#[test]
fn render_is_a_version_2_catalog() {
    let m = set(&[("b.example", None), ("a.example", Some("cust \"x\""))]);
    let text = render("cat.example", 7, &m);
    assert!(text.contains("@ SOA invalid. invalid. 7 "));
    assert!(text.contains("@ NS invalid.\n"));
    assert!(text.contains("version TXT \"2\"\n"));
    let la = label("a.example");
    assert!(text.contains(&format!("{la}.zones PTR a.example.\n")));
    assert!(text.contains(&format!("group.{la}.zones TXT \"cust \\\"x\\\"\"\n")));
    assert!(!text.contains(&format!("group.{}.zones", label("b.example"))));
    // It loads as a zone.
    let dir = std::env::temp_dir().join(format!("pharos-catprod-{}", std::process::id()));
    let path = dir.join("cat.zone");
    fs::create_dir_all(&dir).unwrap();
    fs::write(&path, &text).unwrap();
    let loaded = crate::zone::file::load_zone_file("cat.example", &path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(loaded.zone.info.serial, 7);
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn serial_rises_only_on_change_and_never_goes_back() {
    let dir = std::env::temp_dir().join(format!("pharos-catprod-w-{}", std::process::id()));
    let path = dir.join("catalog/cat.example.zone");
    let m1 = set(&[("a.example", None)]);
    let w1 = write(&path, "cat.example", &m1, 1_000).unwrap();
    assert_eq!(
        w1,
        Written {
            serial: 1_000,
            changed: true
        }
    );
    assert_eq!(
        write(&path, "cat.example", &m1, 2_000).unwrap(),
        Written {
            serial: 1_000,
            changed: false
        }
    );
    // The clock went back: the serial still rises.
    let m2 = set(&[("a.example", None), ("b.example", None)]);
    assert_eq!(
        write(&path, "cat.example", &m2, 500).unwrap(),
        Written {
            serial: 1_001,
            changed: true
        }
    );
    // A group change is a change.
    let m3 = set(&[("a.example", Some("g")), ("b.example", None)]);
    assert_eq!(
        write(&path, "cat.example", &m3, 5_000).unwrap(),
        Written {
            serial: 5_000,
            changed: true
        }
    );
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn serial_arithmetic() {
    assert_eq!(next_serial(None, 42), 42);
    assert_eq!(next_serial(Some(41), 42), 42);
    assert_eq!(next_serial(Some(42), 42), 43);
    assert_eq!(next_serial(Some(u32::MAX), 3), 3, "wraps forward");
}
