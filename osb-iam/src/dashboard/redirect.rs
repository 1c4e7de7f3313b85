//! Where the browser goes after signing in: only back to a path of this site.

/// Longest return path kept (it travels in the state cookie, which must stay under 4 KiB); a
/// longer one falls back to the default.
const MAX_RETURN_PATH: usize = 1024;

/// `target` if it is a same-origin relative path a browser cannot read as another site.
///
/// Refused: anything not starting with exactly one `/` (`//evil.example` and `/\evil.example`
/// are "network-path references" to browsers, which treat `\` like `/`), any backslash, any
/// byte outside visible ASCII (tabs and newlines are stripped by browsers, so `/\t/evil.example`
/// becomes `//evil.example`), and overly long paths. Absolute URLs fail the first rule.
pub(super) fn safe_return_path(target: &str) -> Option<&str> {
    let bytes = target.as_bytes();
    let same_origin_path = bytes.first() == Some(&b'/')
        && !matches!(bytes.get(1), Some(b'/' | b'\\'))
        && target.len() <= MAX_RETURN_PATH
        && bytes
            .iter()
            .all(|&byte| byte.is_ascii_graphic() && byte != b'\\');
    same_origin_path.then_some(target)
}

#[cfg(test)]
mod tests {
    use super::safe_return_path;

    #[test]
    fn same_origin_paths_are_kept() {
        for path in [
            "/",
            "/dashboard/crn%3Av1%3Ax",
            "/a/b?c=d&e=%2F%2F",
            "/a//b",
            "/%2F%2Fevil.example",
        ] {
            assert_eq!(safe_return_path(path), Some(path), "{path}");
        }
    }

    #[test]
    fn open_redirect_targets_are_refused() {
        for target in [
            "//evil.example",
            "//evil.example/dashboard",
            "/\\evil.example",
            "\\\\evil.example",
            "/a\\b",
            "https://evil.example/",
            "http:/evil.example",
            "javascript:alert(1)",
            "evil.example",
            "",
            "/\t/evil.example",
            "/\n/evil.example",
            "/\r\n/evil.example",
            "/ /evil.example",
            "/\u{7f}",
            "/caf\u{e9}",
        ] {
            assert_eq!(safe_return_path(target), None, "{target:?}");
        }
        assert_eq!(safe_return_path(&format!("/{}", "a".repeat(1024))), None);
        assert!(safe_return_path(&format!("/{}", "a".repeat(1023))).is_some());
    }
}
