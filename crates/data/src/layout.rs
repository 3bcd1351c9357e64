//! Data set layouts (docs/method.md §9) and scanning them into a [`DatasetIndex`].
//!
//! Scanning only looks at names; it decodes nothing (see [`crate::load`] for that). Every list
//! comes out sorted (by folder name, then file name, byte order), so the same tree always gives
//! the same index. Folders are not searched recursively. Hidden files (names starting with `.`)
//! and files whose extension is not in [`crate::IMAGE_EXTENSIONS`] are ignored.

use std::path::{Path, PathBuf};

use crate::{DataError, IMAGE_EXTENSIONS};

/// Where a data set lives and how it is organised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Layout {
    /// MVTec AD: `<root>/<category>/train/good/*`, `test/<defect|good>/*`,
    /// `ground_truth/<defect>/<name>_mask.png`.
    ///
    /// Any category folder is accepted (not only the 15 published ones), so data written by
    /// [`crate::synthetic::generate`] scans the same way.
    MvTec {
        /// The folder that holds the category folders.
        root: PathBuf,
        /// The category folder's name (`bottle`, `carpet`, …).
        category: String,
    },
    /// BTAD: `<root>/<product>/train/ok/*`, `test/ok/*`, `test/ko/*`, `ground_truth/ko/<name>.png`
    /// (or `.bmp`); images may be `.bmp` or `.png`.
    Btad {
        /// The folder that holds the product folders.
        root: PathBuf,
        /// The product folder's name (`01`, `02` or `03` in the published data set).
        product: String,
    },
    /// Plain folders: normal training images, and optionally normal and anomalous test images
    /// and the anomalous images' masks (`<masks>/<name>.<ext>` or `<masks>/<name>_mask.<ext>`).
    ///
    /// Without `masks`, anomalous test images have no mask (image-level labels only).
    Folder {
        /// Normal training images.
        train: PathBuf,
        /// Normal test images.
        test_good: Option<PathBuf>,
        /// Anomalous test images.
        test_defect: Option<PathBuf>,
        /// Masks of the anomalous test images.
        masks: Option<PathBuf>,
    },
}

/// One test image with its label and, for anomalous ones, its ground-truth mask.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestSample {
    /// The image file.
    pub path: PathBuf,
    /// `true` for an anomalous (defective) image.
    pub label: bool,
    /// The defect type: the test sub-folder's name for MVTec AD (`good`, `broken_large`, …) and
    /// BTAD (`ok`, `ko`); `good` or `defect` for [`Layout::Folder`].
    pub defect: String,
    /// The ground-truth mask of an anomalous image (`None` for normal images, and for anomalous
    /// images of a [`Layout::Folder`] without a masks folder).
    pub mask: Option<PathBuf>,
}

/// The files of a data set, as found by [`scan`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DatasetIndex {
    /// Normal training images, sorted.
    pub train: Vec<PathBuf>,
    /// Test images, sorted by defect folder then file name.
    pub test: Vec<TestSample>,
}

impl DatasetIndex {
    /// Number of anomalous test images.
    pub fn n_anomalous(&self) -> usize {
        self.test.iter().filter(|s| s.label).count()
    }

    /// The distinct defect types of the test set, sorted.
    pub fn defect_types(&self) -> Vec<String> {
        let mut d: Vec<String> = self.test.iter().map(|s| s.defect.clone()).collect();
        d.sort();
        d.dedup();
        d
    }
}

/// Lists the data set's files according to `layout`.
///
/// # Errors
/// * [`DataError::UnknownCategory`] / [`DataError::UnknownProduct`] when the category or product
///   folder is missing (the message lists those that exist);
/// * [`DataError::MissingDir`] when a required folder is missing (the training folder, MVTec's
///   or BTAD's `test/`, a folder given in [`Layout::Folder`]);
/// * [`DataError::EmptyDir`] when the training folder holds no image;
/// * [`DataError::MissingMask`] when an anomalous test image has no mask (naming the image and the
///   expected mask path);
/// * [`DataError::Io`] when a folder cannot be listed.
pub fn scan(layout: &Layout) -> Result<DatasetIndex, DataError> {
    match layout {
        Layout::MvTec { root, category } => scan_mvtec(root, category),
        Layout::Btad { root, product } => scan_btad(root, product),
        Layout::Folder {
            train,
            test_good,
            test_defect,
            masks,
        } => scan_folder(
            train,
            test_good.as_deref(),
            test_defect.as_deref(),
            masks.as_deref(),
        ),
    }
}

fn scan_mvtec(root: &Path, category: &str) -> Result<DatasetIndex, DataError> {
    require_dir(root, "MVTec AD root folder")?;
    let cat = root.join(category);
    if category.is_empty() || !cat.is_dir() {
        return Err(DataError::UnknownCategory {
            root: root.to_owned(),
            category: category.to_owned(),
            available: data_set_folders(root)?,
        });
    }
    let train = training_images(&cat.join("train").join("good"))?;
    let test_dir = cat.join("test");
    require_dir(&test_dir, "test folder")?;
    let gt = cat.join("ground_truth");
    let mut test = Vec::new();
    for defect in sub_folders(&test_dir)? {
        let good = defect == "good";
        for path in list_images(&test_dir.join(&defect))? {
            let mask = if good {
                None
            } else {
                let stem = file_stem(&path);
                Some(find_mask(
                    &path,
                    &gt.join(&defect),
                    &[format!("{stem}_mask")],
                )?)
            };
            test.push(TestSample {
                path,
                label: !good,
                defect: defect.clone(),
                mask,
            });
        }
    }
    Ok(DatasetIndex { train, test })
}

fn scan_btad(root: &Path, product: &str) -> Result<DatasetIndex, DataError> {
    require_dir(root, "BTAD root folder")?;
    let prod = root.join(product);
    if product.is_empty() || !prod.is_dir() {
        return Err(DataError::UnknownProduct {
            root: root.to_owned(),
            product: product.to_owned(),
            available: data_set_folders(root)?,
        });
    }
    let train = training_images(&prod.join("train").join("ok"))?;
    let test_dir = prod.join("test");
    require_dir(&test_dir, "test folder")?;
    let mut test = Vec::new();
    let ok = test_dir.join("ok");
    if ok.is_dir() {
        for path in list_images(&ok)? {
            test.push(TestSample {
                path,
                label: false,
                defect: "ok".to_owned(),
                mask: None,
            });
        }
    }
    let ko = test_dir.join("ko");
    if ko.is_dir() {
        let gt = prod.join("ground_truth").join("ko");
        for path in list_images(&ko)? {
            let stem = file_stem(&path);
            let mask = find_mask(&path, &gt, &[stem])?;
            test.push(TestSample {
                path,
                label: true,
                defect: "ko".to_owned(),
                mask: Some(mask),
            });
        }
    }
    Ok(DatasetIndex { train, test })
}

fn scan_folder(
    train: &Path,
    test_good: Option<&Path>,
    test_defect: Option<&Path>,
    masks: Option<&Path>,
) -> Result<DatasetIndex, DataError> {
    let train = training_images(train)?;
    let test = scan_labelled(test_good, test_defect, masks)?;
    Ok(DatasetIndex { train, test })
}

/// The labelled test images of plain folders: normal images from `good`, defective ones from
/// `defect`, and the defects' masks from `masks` (`<name>.<ext>` or `<name>_mask.<ext>`), in
/// that order, each folder sorted. What `rdpp eval` and `--layout folder` read.
///
/// Masks may cover only some defects: those without one get `mask: None` (pixel metrics leave
/// them out and say so).
///
/// # Errors
/// * [`DataError::MissingDir`] when a given folder does not exist;
/// * [`DataError::EmptyDir`] when a given image folder holds no image;
/// * [`DataError::NoMasksMatched`] when a masks folder is given but no defect's mask is in it
///   (names that follow another convention), naming an image and the file it looked for;
/// * [`DataError::OverlappingLabels`] when the same file (the same path, or the same bytes) is
///   in both the normal and the defect folder;
/// * [`DataError::Io`] when a folder or file cannot be read.
pub fn scan_labelled(
    good: Option<&Path>,
    defect: Option<&Path>,
    masks: Option<&Path>,
) -> Result<Vec<TestSample>, DataError> {
    let mut test = Vec::new();
    if let Some(dir) = good {
        for path in labelled_images(dir, "folder of normal test images")? {
            test.push(TestSample {
                path,
                label: false,
                defect: "good".to_owned(),
                mask: None,
            });
        }
    }
    if let Some(mask_dir) = masks {
        require_dir(mask_dir, "masks folder")?;
    }
    let n_good = test.len();
    if let Some(dir) = defect {
        let mut first_unmatched = None;
        for path in labelled_images(dir, "folder of anomalous test images")? {
            let mask = match masks {
                Some(mask_dir) => {
                    let stem = file_stem(&path);
                    match find_mask(&path, mask_dir, &[stem.clone(), format!("{stem}_mask")]) {
                        Ok(m) => Some(m),
                        Err(e) => {
                            first_unmatched.get_or_insert(e);
                            None
                        }
                    }
                }
                None => None,
            };
            test.push(TestSample {
                path,
                label: true,
                defect: "defect".to_owned(),
                mask,
            });
        }
        if let (Some(mask_dir), Some(DataError::MissingMask { image, expected })) =
            (masks, first_unmatched)
            && test[n_good..].iter().all(|s| s.mask.is_none())
        {
            return Err(DataError::NoMasksMatched {
                masks: mask_dir.to_owned(),
                image,
                expected,
            });
        }
    }
    check_disjoint(&test[..n_good], &test[n_good..])?;
    Ok(test)
}

/// The images of a labelled test folder: it must exist and hold at least one image.
fn labelled_images(dir: &Path, what: &'static str) -> Result<Vec<PathBuf>, DataError> {
    require_dir(dir, what)?;
    let images = list_images(dir)?;
    if images.is_empty() {
        return Err(DataError::EmptyDir {
            what,
            path: dir.to_owned(),
        });
    }
    Ok(images)
}

/// No file may be both normal and defective: the same path (e.g. the same folder given twice,
/// or through a link) or the same bytes under two names.
fn check_disjoint(good: &[TestSample], defect: &[TestSample]) -> Result<(), DataError> {
    use std::collections::HashMap;
    let canonical = |p: &Path| std::fs::canonicalize(p).map_err(|e| DataError::io(p, e));
    // Candidates by file length: only files of equal length are compared byte for byte.
    let mut by_len: HashMap<u64, Vec<(&Path, PathBuf)>> = HashMap::new();
    for s in good {
        let len = std::fs::metadata(&s.path)
            .map_err(|e| DataError::io(&s.path, e))?
            .len();
        by_len
            .entry(len)
            .or_default()
            .push((&s.path, canonical(&s.path)?));
    }
    for s in defect {
        let len = std::fs::metadata(&s.path)
            .map_err(|e| DataError::io(&s.path, e))?
            .len();
        let Some(candidates) = by_len.get(&len) else {
            continue;
        };
        let real = canonical(&s.path)?;
        let mut bytes = None;
        for (good_path, good_real) in candidates {
            let same = *good_real == real || {
                if bytes.is_none() {
                    bytes = Some(std::fs::read(&s.path).map_err(|e| DataError::io(&s.path, e))?);
                }
                let other = std::fs::read(good_path).map_err(|e| DataError::io(good_path, e))?;
                bytes.as_deref() == Some(other.as_slice())
            };
            if same {
                return Err(DataError::OverlappingLabels {
                    good: good_path.to_path_buf(),
                    defect: s.path.clone(),
                });
            }
        }
    }
    Ok(())
}

/// The training images of `dir`; the folder must exist and hold at least one image.
fn training_images(dir: &Path) -> Result<Vec<PathBuf>, DataError> {
    require_dir(dir, "training folder")?;
    let images = list_images(dir)?;
    if images.is_empty() {
        return Err(DataError::EmptyDir {
            what: "training folder",
            path: dir.to_owned(),
        });
    }
    Ok(images)
}

fn require_dir(dir: &Path, what: &'static str) -> Result<(), DataError> {
    if dir.is_dir() {
        Ok(())
    } else {
        Err(DataError::MissingDir {
            what,
            path: dir.to_owned(),
        })
    }
}

/// The file name without its last extension, lossily as UTF-8.
fn file_stem(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// `true` when `path`'s extension is one of [`IMAGE_EXTENSIONS`] (any case).
pub(crate) fn has_image_extension(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| IMAGE_EXTENSIONS.iter().any(|x| x.eq_ignore_ascii_case(e)))
}

fn is_hidden(name: &std::ffi::OsStr) -> bool {
    name.as_encoded_bytes().first() == Some(&b'.')
}

/// Image files directly inside `dir` (symbolic links followed), sorted by name.
fn list_images(dir: &Path) -> Result<Vec<PathBuf>, DataError> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| DataError::io(dir, e))? {
        let entry = entry.map_err(|e| DataError::io(dir, e))?;
        let path = entry.path();
        if is_hidden(&entry.file_name()) || !has_image_extension(&path) || !path.is_file() {
            continue;
        }
        out.push(path);
    }
    out.sort();
    Ok(out)
}

/// Names of the non-hidden sub-folders of `dir`, sorted.
fn sub_folders(dir: &Path) -> Result<Vec<String>, DataError> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| DataError::io(dir, e))? {
        let entry = entry.map_err(|e| DataError::io(dir, e))?;
        if is_hidden(&entry.file_name()) || !entry.path().is_dir() {
            continue;
        }
        out.push(entry.file_name().to_string_lossy().into_owned());
    }
    out.sort();
    Ok(out)
}

/// Sub-folders of `root` that have a `train/` folder: the categories or products on offer.
fn data_set_folders(root: &Path) -> Result<Vec<String>, DataError> {
    Ok(sub_folders(root)?
        .into_iter()
        .filter(|name| root.join(name).join("train").is_dir())
        .collect())
}

/// The mask of `image`: the first existing `<dir>/<stem><.ext>` for each stem in `stems` and
/// each image extension (`.png` first, then `.bmp`, then the others, lower then upper case).
fn find_mask(image: &Path, dir: &Path, stems: &[String]) -> Result<PathBuf, DataError> {
    let mut exts: Vec<String> = vec!["png".into(), "bmp".into()];
    for e in IMAGE_EXTENSIONS {
        if !exts.iter().any(|x| x == e) {
            exts.push((*e).to_owned());
        }
    }
    let upper: Vec<String> = exts.iter().map(|e| e.to_ascii_uppercase()).collect();
    exts.extend(upper);
    for stem in stems {
        for ext in &exts {
            let candidate = dir.join(format!("{stem}.{ext}"));
            if candidate.is_file() {
                return Ok(candidate);
            }
        }
    }
    Err(DataError::MissingMask {
        image: image.to_owned(),
        expected: dir.join(format!(
            "{}.png",
            stems.first().map(String::as_str).unwrap_or("")
        )),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    /// A file whose bytes are its own path (no two files alike).
    fn touch(path: &Path) {
        fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        fs::write(path, path.as_os_str().as_encoded_bytes()).expect("write");
    }

    fn mvtec_tree(root: &Path) {
        let c = root.join("bottle");
        for n in ["001.png", "000.png", "010.png"] {
            touch(&c.join("train/good").join(n));
        }
        touch(&c.join("train/good/.hidden.png"));
        touch(&c.join("train/good/notes.txt"));
        touch(&c.join("test/good/000.png"));
        touch(&c.join("test/broken/000.png"));
        touch(&c.join("test/broken/001.png"));
        touch(&c.join("ground_truth/broken/000_mask.png"));
        touch(&c.join("ground_truth/broken/001_mask.png"));
        touch(&c.join("test/contamination/003.png"));
        touch(&c.join("ground_truth/contamination/003_mask.png"));
        fs::create_dir_all(root.join("carpet/train")).expect("mkdir");
        fs::create_dir_all(root.join("license_files")).expect("mkdir");
    }

    #[test]
    fn mvtec_sorted_and_labelled() {
        let t = tempfile::tempdir().expect("tempdir");
        mvtec_tree(t.path());
        let layout = Layout::MvTec {
            root: t.path().into(),
            category: "bottle".into(),
        };
        let idx = scan(&layout).expect("scan");
        let names: Vec<_> = idx
            .train
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["000.png", "001.png", "010.png"]);
        let test: Vec<_> = idx
            .test
            .iter()
            .map(|s| {
                (
                    s.defect.as_str(),
                    file_stem(&s.path),
                    s.label,
                    s.mask.is_some(),
                )
            })
            .collect();
        assert_eq!(
            test,
            [
                ("broken", "000".to_string(), true, true),
                ("broken", "001".to_string(), true, true),
                ("contamination", "003".to_string(), true, true),
                ("good", "000".to_string(), false, false),
            ]
        );
        let m = idx.test[1].mask.as_ref().expect("mask");
        assert!(
            m.ends_with("ground_truth/broken/001_mask.png"),
            "{}",
            m.display()
        );
        assert_eq!(idx.n_anomalous(), 3);
        assert_eq!(idx.defect_types(), ["broken", "contamination", "good"]);
        // Deterministic: scanning again gives the same index.
        assert_eq!(scan(&layout).expect("scan"), idx);
    }

    #[test]
    fn mvtec_errors() {
        let t = tempfile::tempdir().expect("tempdir");
        mvtec_tree(t.path());
        let root = t.path().to_path_buf();
        // Unknown category: lists those with a train/ folder.
        let e = scan(&Layout::MvTec {
            root: root.clone(),
            category: "bottel".into(),
        })
        .unwrap_err();
        assert!(
            matches!(&e, DataError::UnknownCategory { available, .. } if available == &["bottle", "carpet"])
        );
        assert!(
            e.to_string().contains("bottel") && e.to_string().contains("found: bottle, carpet"),
            "{e}"
        );
        // Empty training folder.
        fs::create_dir_all(root.join("carpet/train/good")).expect("mkdir");
        let e = scan(&Layout::MvTec {
            root: root.clone(),
            category: "carpet".into(),
        })
        .unwrap_err();
        assert!(
            matches!(&e, DataError::EmptyDir { path, .. } if path.ends_with("carpet/train/good")),
            "{e}"
        );
        // Missing training folder.
        fs::create_dir_all(root.join("grid/test")).expect("mkdir");
        let e = scan(&Layout::MvTec {
            root: root.clone(),
            category: "grid".into(),
        })
        .unwrap_err();
        assert!(
            matches!(
                &e,
                DataError::MissingDir {
                    what: "training folder",
                    ..
                }
            ),
            "{e}"
        );
        // Missing root.
        let e = scan(&Layout::MvTec {
            root: root.join("nope"),
            category: "bottle".into(),
        })
        .unwrap_err();
        assert!(
            matches!(
                &e,
                DataError::MissingDir {
                    what: "MVTec AD root folder",
                    path,
                } if path == &root.join("nope")
            ),
            "{e}"
        );
        // An anomalous image without its mask: both paths are named.
        fs::remove_file(root.join("bottle/ground_truth/broken/001_mask.png")).expect("rm");
        let e = scan(&Layout::MvTec {
            root: root.clone(),
            category: "bottle".into(),
        })
        .unwrap_err();
        let msg = e.to_string();
        assert!(matches!(&e, DataError::MissingMask { .. }), "{e}");
        assert!(
            msg.contains("test/broken/001.png") && msg.contains("ground_truth/broken/001_mask.png"),
            "{msg}"
        );
        // Missing test folder.
        fs::remove_dir_all(root.join("bottle/test")).expect("rm");
        let e = scan(&Layout::MvTec {
            root,
            category: "bottle".into(),
        })
        .unwrap_err();
        assert!(
            matches!(
                &e,
                DataError::MissingDir {
                    what: "test folder",
                    ..
                }
            ),
            "{e}"
        );
    }

    #[test]
    fn btad_png_and_bmp() {
        let t = tempfile::tempdir().expect("tempdir");
        let p = t.path().join("03");
        touch(&p.join("train/ok/0001.bmp"));
        touch(&p.join("train/ok/0000.BMP"));
        touch(&p.join("test/ok/0000.bmp"));
        touch(&p.join("test/ko/0005.bmp"));
        touch(&p.join("test/ko/0002.png"));
        touch(&p.join("ground_truth/ko/0005.png"));
        touch(&p.join("ground_truth/ko/0002.bmp"));
        let layout = Layout::Btad {
            root: t.path().into(),
            product: "03".into(),
        };
        let idx = scan(&layout).expect("scan");
        assert_eq!(idx.train.len(), 2);
        assert!(idx.train[0].ends_with("0000.BMP"));
        assert_eq!(idx.test.len(), 3);
        assert_eq!(
            (idx.test[0].defect.as_str(), idx.test[0].label),
            ("ok", false)
        );
        assert!(
            idx.test[1]
                .mask
                .as_ref()
                .unwrap()
                .ends_with("ground_truth/ko/0002.bmp")
        );
        assert!(
            idx.test[2]
                .mask
                .as_ref()
                .unwrap()
                .ends_with("ground_truth/ko/0005.png")
        );
        // Missing mask.
        fs::remove_file(p.join("ground_truth/ko/0005.png")).expect("rm");
        let e = scan(&layout).unwrap_err();
        assert!(e.to_string().contains("ground_truth/ko/0005.png"), "{e}");
        // Unknown product.
        let e = scan(&Layout::Btad {
            root: t.path().into(),
            product: "04".into(),
        })
        .unwrap_err();
        assert!(
            matches!(&e, DataError::UnknownProduct { available, .. } if available == &["03"]),
            "{e}"
        );
    }

    #[test]
    fn labelled_folders_partial_masks_and_overlaps() {
        let t = tempfile::tempdir().expect("tempdir");
        let r = t.path();
        touch(&r.join("ok/a.png"));
        touch(&r.join("bad/d1.png"));
        touch(&r.join("bad/d2.png"));
        touch(&r.join("masks/d1_mask.png"));
        // Masks for some defects only: the others have none.
        let s = scan_labelled(
            Some(&r.join("ok")),
            Some(&r.join("bad")),
            Some(&r.join("masks")),
        )
        .expect("scan");
        let masks: Vec<bool> = s.iter().map(|s| s.mask.is_some()).collect();
        assert_eq!(masks, [false, true, false]);
        // A masks folder whose names match no defect: said, with the name looked for.
        touch(&r.join("other/m1.png"));
        let e = scan_labelled(
            Some(&r.join("ok")),
            Some(&r.join("bad")),
            Some(&r.join("other")),
        )
        .unwrap_err();
        assert!(matches!(e, DataError::NoMasksMatched { .. }), "{e}");
        assert!(
            e.to_string().contains("bad/d1.png") && e.to_string().contains("other/d1.png"),
            "{e}"
        );
        // A defect folder without images.
        fs::create_dir_all(r.join("none")).expect("mkdir");
        let e = scan_labelled(Some(&r.join("ok")), Some(&r.join("none")), None).unwrap_err();
        assert!(
            e.to_string().starts_with("folder of anomalous test images"),
            "{e}"
        );
        // The same folder as both, and the same bytes under two names.
        let e = scan_labelled(Some(&r.join("bad")), Some(&r.join("bad")), None).unwrap_err();
        assert!(matches!(e, DataError::OverlappingLabels { .. }), "{e}");
        fs::copy(r.join("ok/a.png"), r.join("bad/copy_of_a.png")).expect("copy");
        let e = scan_labelled(Some(&r.join("ok")), Some(&r.join("bad")), None).unwrap_err();
        assert!(
            e.to_string().contains("ok/a.png") && e.to_string().contains("bad/copy_of_a.png"),
            "{e}"
        );
    }

    #[test]
    fn folder_layout() {
        let t = tempfile::tempdir().expect("tempdir");
        let r = t.path();
        touch(&r.join("normal/b.jpg"));
        touch(&r.join("normal/a.png"));
        touch(&r.join("ok/x.png"));
        touch(&r.join("bad/d1.png"));
        touch(&r.join("bad/d2.jpeg"));
        touch(&r.join("masks/d1.png"));
        touch(&r.join("masks/d2_mask.png"));
        let mut layout = Layout::Folder {
            train: r.join("normal"),
            test_good: Some(r.join("ok")),
            test_defect: Some(r.join("bad")),
            masks: Some(r.join("masks")),
        };
        let idx = scan(&layout).expect("scan");
        assert!(idx.train[0].ends_with("a.png") && idx.train[1].ends_with("b.jpg"));
        assert_eq!(idx.test.len(), 3);
        assert!(idx.test[1].mask.as_ref().unwrap().ends_with("masks/d1.png"));
        assert!(
            idx.test[2]
                .mask
                .as_ref()
                .unwrap()
                .ends_with("masks/d2_mask.png")
        );
        // Without masks: image-level labels only.
        if let Layout::Folder { masks, .. } = &mut layout {
            *masks = None;
        }
        let idx = scan(&layout).expect("scan");
        assert!(idx.test.iter().all(|s| s.mask.is_none()));
        assert_eq!(idx.n_anomalous(), 2);
        // Training only.
        let idx = scan(&Layout::Folder {
            train: r.join("normal"),
            test_good: None,
            test_defect: None,
            masks: None,
        })
        .expect("scan");
        assert!(idx.test.is_empty());
        // A given folder that does not exist is an error.
        let e = scan(&Layout::Folder {
            train: r.join("normal"),
            test_good: Some(r.join("missing")),
            test_defect: None,
            masks: None,
        })
        .unwrap_err();
        assert!(e.to_string().contains("missing"), "{e}");
        let e = scan(&Layout::Folder {
            train: r.join("nothing"),
            test_good: None,
            test_defect: None,
            masks: None,
        })
        .unwrap_err();
        assert!(matches!(
            e,
            DataError::MissingDir {
                what: "training folder",
                ..
            }
        ));
    }
}
