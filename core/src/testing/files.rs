//! Files on disk, as tests look at them.

use std::path::Path;

/// The sorted names of the entries of the folder `dir`.
///
/// ```
/// let dir = std::env::temp_dir().join(format!("folder-names-doc-{}", std::process::id()));
/// std::fs::create_dir_all(dir.join("b")).unwrap();
/// std::fs::write(dir.join("a.txt"), "").unwrap();
/// assert_eq!(dualscore_core::testing::folder_names(&dir).unwrap(), ["a.txt", "b"]);
/// std::fs::remove_dir_all(&dir).unwrap();
/// ```
pub fn folder_names(dir: &Path) -> std::io::Result<Vec<String>> {
    let mut names = std::fs::read_dir(dir)?
        .map(|entry| Ok(entry?.file_name().to_string_lossy().into_owned()))
        .collect::<std::io::Result<Vec<_>>>()?;
    names.sort();
    Ok(names)
}
