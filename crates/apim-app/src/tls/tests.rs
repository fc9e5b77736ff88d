use std::io::Read;

use super::write_private;

/// A generated key replaces the file it is written to (a new file renamed over it), so a reader of the old file,
/// like a process that crashed mid-write would leave, never sees a truncated or half-written one; the result is
/// the owner's alone and no temporary file is left behind.
#[test]
fn private_files_are_replaced_whole() {
    let dir = std::env::temp_dir().join(format!("apim-write-private-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("mkdir");
    let path = dir.join("key.pem");
    write_private(&path, b"old key").expect("first write");
    let mut old = std::fs::File::open(&path).expect("open");
    write_private(&path, b"new key, longer than the old one").expect("second write");
    let mut seen = String::new();
    old.read_to_string(&mut seen).expect("read");
    assert_eq!(seen, "old key", "the old file was rewritten in place");
    assert_eq!(std::fs::read(&path).expect("read"), b"new key, longer than the old one");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&path).expect("meta").permissions().mode() & 0o777, 0o600);
    }
    let names: Vec<String> =
        std::fs::read_dir(&dir).expect("dir").flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    assert_eq!(names, ["key.pem"], "no temporary file left");
    let _ = std::fs::remove_dir_all(&dir);
}
