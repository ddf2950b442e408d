//! Shared by both protocols: check that every record refers to a known image and category, map
//! ids to dense indices, and group annotations and detections into (category, image) cells.
//!
//! Grouping is done by sorting (key, position) pairs rather than with a K x I table, so memory is
//! linear in the number of records whatever the number of images and categories. Cells come out
//! ordered by category, then by image id ascending, which is the order pycocotools visits them
//! (`params.imgIds = sorted(gt image ids)`); within a cell the annotations keep their input order
//! and the detections are ordered by score descending, ties in input order, which is what
//! `np.argsort(-score, kind='mergesort')` gives.

use std::ops::Range;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use super::{Detection, EvalError, GtSet};

/// Label used in errors for a ground truth that was not read from a file.
pub(crate) const GT_LABEL: &str = "<ground truth>";
/// Label used in errors for detections that were not read from a file.
pub(crate) const DT_LABEL: &str = "<detections>";

/// A sorted, deduplicated id list: the position of an id is its dense index.
#[derive(Debug, Clone)]
pub(crate) struct Ids(Vec<u64>);

impl Ids {
    pub(crate) fn new(ids: &[u64]) -> Ids {
        let mut v = ids.to_vec();
        v.sort_unstable();
        v.dedup();
        Ids(v)
    }

    pub(crate) fn index(&self, id: u64) -> Option<u32> {
        self.0.binary_search(&id).ok().map(|i| i as u32)
    }

    pub(crate) fn ids(&self) -> &[u64] {
        &self.0
    }

    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    /// What an error lists as allowed: the ids themselves when few, else their count and range.
    pub(crate) fn describe(&self) -> String {
        match self.0.as_slice() {
            [] => "none (the ground truth lists none)".to_string(),
            ids if ids.len() <= 10 => ids
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(", "),
            ids => format!(
                "{} ids from {} to {}",
                ids.len(),
                ids[0],
                ids[ids.len() - 1]
            ),
        }
    }
}

/// Dense indices of the ground truth's images and categories.
pub(crate) struct Catalog {
    pub(crate) images: Ids,
    pub(crate) categories: Ids,
}

/// Packs (category, image) so that sorting keys sorts by category, then image.
fn cell_key(cat: u32, img: u32) -> u64 {
    (u64::from(cat) << 32) | u64::from(img)
}

impl Catalog {
    pub(crate) fn new(gt: &GtSet, path: &Path) -> Result<Catalog, EvalError> {
        let images = Ids::new(&gt.image_ids);
        let categories = Ids::new(&gt.category_ids);
        for (what, n) in [("images", images.len()), ("categories", categories.len())] {
            if n > u32::MAX as usize {
                let (path, allowed) = (path.to_path_buf(), u32::MAX as usize);
                return Err(EvalError::TooMany {
                    path,
                    what,
                    found: n,
                    allowed,
                });
            }
        }
        Ok(Catalog { images, categories })
    }

    /// The cell key of a record, or the error naming what is unknown.
    pub(crate) fn key(
        &self,
        image_id: u64,
        category_id: u64,
        path: &Path,
        record: impl FnOnce() -> String,
    ) -> Result<u64, EvalError> {
        let Some(img) = self.images.index(image_id) else {
            let (path, record, allowed) = (path.to_path_buf(), record(), self.images.describe());
            return Err(EvalError::UnknownImage {
                path,
                record,
                found: image_id,
                allowed,
            });
        };
        let Some(cat) = self.categories.index(category_id) else {
            let (path, record, allowed) =
                (path.to_path_buf(), record(), self.categories.describe());
            return Err(EvalError::UnknownCategory {
                path,
                record,
                found: category_id,
                allowed,
            });
        };
        Ok(cell_key(cat, img))
    }
}

/// Checks that a number is finite, naming the record and field otherwise.
pub(crate) fn finite(
    v: f64,
    path: &Path,
    record: impl FnOnce() -> String,
    field: &'static str,
) -> Result<(), EvalError> {
    if v.is_finite() {
        Ok(())
    } else {
        Err(EvalError::NotFinite {
            path: path.to_path_buf(),
            record: record(),
            field,
            found: v,
        })
    }
}

/// One (category, image) pair that has annotations or detections.
#[derive(Debug, Clone)]
pub(crate) struct Cell {
    pub(crate) cat: u32,
    /// Image index in [`Catalog::images`] (sorted ids).
    pub(crate) img: u32,
    /// Range into [`Cells::gt_order`].
    pub(crate) gts: Range<usize>,
    /// Range into [`Cells::dt_order`].
    pub(crate) dts: Range<usize>,
}

/// The input grouped into cells, ordered by category then image.
pub(crate) struct Cells {
    pub(crate) catalog: Catalog,
    pub(crate) list: Vec<Cell>,
    /// Annotation positions, by cell, input order within a cell.
    pub(crate) gt_order: Vec<u32>,
    /// Detection positions, by cell, score descending (ties: input order) within a cell.
    pub(crate) dt_order: Vec<u32>,
}

impl Cells {
    /// Validates the in-memory input (unknown ids, duplicate annotation ids, non-finite numbers)
    /// and groups it.
    pub(crate) fn build(gt: &GtSet, dts: &[Detection]) -> Result<Cells, EvalError> {
        let (gt_path, dt_path) = (PathBuf::from(GT_LABEL), PathBuf::from(DT_LABEL));
        let catalog = Catalog::new(gt, &gt_path)?;
        check_gt(gt, &catalog, &gt_path)?;
        if dts.len() > u32::MAX as usize {
            let (path, allowed) = (dt_path, u32::MAX as usize);
            return Err(EvalError::TooMany {
                path,
                what: "detections",
                found: dts.len(),
                allowed,
            });
        }

        let mut gk = Vec::with_capacity(gt.annotations.len());
        for (i, a) in gt.annotations.iter().enumerate() {
            let rec = || format!("annotations[{i}]");
            gk.push((
                catalog.key(a.image_id, a.category_id, &gt_path, rec)?,
                i as u32,
            ));
        }
        gk.par_sort_unstable();

        let mut dk = Vec::with_capacity(dts.len());
        for (i, d) in dts.iter().enumerate() {
            let rec = || format!("detections[{i}]");
            for v in d.bbox {
                finite(v, &dt_path, rec, "bbox")?;
            }
            finite(d.score, &dt_path, rec, "score")?;
            dk.push((
                catalog.key(d.image_id, d.category_id, &dt_path, rec)?,
                d.score,
                i as u32,
            ));
        }
        // Unstable sort on a total key (key, -score, position) equals a stable sort on -score.
        dk.par_sort_unstable_by(|a, b| {
            a.0.cmp(&b.0)
                .then(b.1.partial_cmp(&a.1).expect("scores were checked finite"))
                .then(a.2.cmp(&b.2))
        });

        let mut list = Vec::new();
        let (mut i, mut j) = (0, 0);
        while i < gk.len() || j < dk.len() {
            let key = match (gk.get(i), dk.get(j)) {
                (Some(g), Some(d)) => g.0.min(d.0),
                (Some(g), None) => g.0,
                (None, Some(d)) => d.0,
                (None, None) => unreachable!("loop condition"),
            };
            let (i0, j0) = (i, j);
            while i < gk.len() && gk[i].0 == key {
                i += 1;
            }
            while j < dk.len() && dk[j].0 == key {
                j += 1;
            }
            list.push(Cell {
                cat: (key >> 32) as u32,
                img: key as u32,
                gts: i0..i,
                dts: j0..j,
            });
        }
        let gt_order = gk.into_iter().map(|(_, p)| p).collect();
        let dt_order = dk.into_iter().map(|(_, _, p)| p).collect();
        Ok(Cells {
            catalog,
            list,
            gt_order,
            dt_order,
        })
    }

    /// For each category index, the range of its cells in [`Cells::list`].
    pub(crate) fn category_ranges(&self) -> Vec<Range<usize>> {
        let k = self.catalog.categories.len();
        let mut ranges = vec![0..0; k];
        let mut start = 0;
        while start < self.list.len() {
            let cat = self.list[start].cat;
            let end = start + self.list[start..].partition_point(|c| c.cat == cat);
            ranges[cat as usize] = start..end;
            start = end;
        }
        ranges
    }
}

/// Ground-truth checks beyond known ids: finite numbers and unique annotation ids.
pub(crate) fn check_gt(gt: &GtSet, catalog: &Catalog, path: &Path) -> Result<(), EvalError> {
    for (i, a) in gt.annotations.iter().enumerate() {
        let rec = || format!("annotations[{i}]");
        catalog.key(a.image_id, a.category_id, path, rec)?;
        for v in a.bbox {
            finite(v, path, rec, "bbox")?;
        }
        finite(a.area, path, rec, "area")?;
    }
    let mut ids: Vec<(u64, usize)> = gt
        .annotations
        .iter()
        .enumerate()
        .map(|(i, a)| (a.id, i))
        .collect();
    ids.par_sort_unstable();
    for w in ids.windows(2) {
        if w[0].0 == w[1].0 {
            return Err(EvalError::DuplicateId {
                path: path.to_path_buf(),
                record: format!("annotations[{}]", w[1].1),
                id: w[0].0,
                first: format!("annotations[{}]", w[0].1),
            });
        }
    }
    Ok(())
}
