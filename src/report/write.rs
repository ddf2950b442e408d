//! The report's only disk access: every table of a spec rendered into
//! `DIR/tables/<name>.{md,csv,tex}` (and each table's claims as `<name>.claims.csv`, all claims
//! as `DIR/claims.json`), atomically, from the sweep directory as read.

use crate::journal::{write_atomic, write_json, JournalError, SweepDir, SweepRecord};
use crate::plan::{Plan, PlanFile};
use crate::spec::{ReferenceFile, Spec, SpecErrors};

use super::{build, check, Format, Table};

/// Renders every table of `spec` from `record` (the sweep as read) and writes it under
/// `sweep`'s `tables/`; returns them for printing.
pub fn write_tables(
    sweep: &SweepDir,
    record: &SweepRecord,
    spec: &Spec,
    reference: Option<&ReferenceFile>,
) -> Result<Vec<Table>, JournalError> {
    let dir = sweep.tables_dir();
    std::fs::create_dir_all(&dir).map_err(crate::journal::io("create", &dir))?;
    let mut tables = Vec::new();
    for table_spec in &spec.tables {
        let name = table_spec.name.clone().unwrap_or_else(|| spec.name.clone());
        let table_ref = reference.and_then(|r| r.table(&name));
        let table = build(
            &record.plan,
            table_spec,
            table_ref.as_ref(),
            &record.jobs,
            &spec.name,
        );
        for f in [Format::Markdown, Format::Csv, Format::Latex] {
            let path = dir.join(format!("{}.{}", table.name, f.extension()));
            write_atomic(&path, f.render(&table).as_bytes())
                .map_err(crate::journal::io("write", &path))?;
        }
        if let Some(text) = super::claims_csv(&table) {
            let path = dir.join(format!("{}.claims.csv", table.name));
            write_atomic(&path, text.as_bytes()).map_err(crate::journal::io("write", &path))?;
        }
        tables.push(table);
    }
    let path = sweep.root.join("claims.json");
    write_json(&path, &super::claims_json(&spec.name, &tables))?;
    Ok(tables)
}

/// Every table's rows, baselines and claims against the expanded jobs, before anything runs;
/// each problem located in the spec file.
pub fn check_spec_tables(
    spec: &Spec,
    plan: &Plan,
    reference: Option<&ReferenceFile>,
) -> Result<(), SpecErrors> {
    let file = PlanFile::new(plan, spec, &std::collections::HashMap::new());
    let mut errors = Vec::new();
    for (i, t) in spec.tables.iter().enumerate() {
        let name = t.name.clone().unwrap_or_else(|| spec.name.clone());
        let table_ref = reference.and_then(|r| r.table(&name));
        for (key, problem, allowed) in check(&file, t, table_ref.as_ref()) {
            errors.push(spec.table_error(i, &key, problem, allowed));
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(SpecErrors(errors))
    }
}
