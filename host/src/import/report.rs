//! What an import did, per LMS table, and the rows it refused or skipped.

use std::collections::BTreeMap;
use std::fmt::Write as _;

/// The LMS tables carried over, in the order the report lists them.
pub const TABLES: [&str; 13] = [
    "auth_user",
    "auth_userprofile",
    "student_sociallink",
    "student_languageproficiency",
    "user_api_userpreference",
    "user_api_userorgtag",
    "student_pendingemailchange",
    "student_pendingnamechange",
    "student_pendingsecondaryemailchange",
    "auth_accountrecovery",
    "user_api_userretirementstatus",
    "user_api_userretirementrequest",
    "user_api_userretirementpartnerreportingstatus",
];

/// Index of a table in [`TABLES`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Table {
    User = 0,
    Profile,
    SocialLink,
    Language,
    Preference,
    OrgTag,
    PendingEmail,
    PendingName,
    PendingSecondary,
    Recovery,
    RetirementStatus,
    RetirementRequest,
    PartnerReporting,
}

impl Table {
    /// The LMS table's name.
    pub fn name(self) -> &'static str {
        TABLES[self as usize]
    }
}

/// What happened to the rows of one table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Counts {
    pub read: u64,
    /// New here.
    pub imported: u64,
    /// Already here, and changed to the LMS's values.
    pub updated: u64,
    /// Already here with the same values.
    pub unchanged: u64,
    /// Refused for bad data (their own, or their learner's).
    pub refused: u64,
    /// Skipped because their learner conflicts with another account.
    pub conflicting: u64,
}

impl Counts {
    fn add(&mut self, other: &Counts) {
        self.read += other.read;
        self.imported += other.imported;
        self.updated += other.updated;
        self.unchanged += other.unchanged;
        self.refused += other.refused;
        self.conflicting += other.conflicting;
    }
}

/// A row not imported, and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Refusal {
    pub table: &'static str,
    /// The row's id in the LMS.
    pub id: i64,
    pub reason: String,
}

/// A learner whose username or e-mail belongs to another account of the tenant.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Conflict {
    /// The learner's id in the LMS.
    pub lms_user_id: i64,
    /// The id of the account here that holds the username or address.
    pub userapi_id: i64,
    /// `username` or `email`.
    pub field: &'static str,
    pub value: String,
}

/// The outcome of a run (or of one batch, merged into the run's).
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Report {
    /// Per table, in [`TABLES`] order (serialised as an object keyed by table name).
    #[serde(serialize_with = "by_table_name")]
    pub tables: [Counts; TABLES.len()],
    pub refusals: Vec<Refusal>,
    pub conflicts: Vec<Conflict>,
    /// Passwords made unusable, by Django scheme (see `auth::password::FromDjango`).
    pub unusable_passwords: BTreeMap<String, u64>,
    /// Whether nothing was written (`--dry-run`).
    pub dry_run: bool,
}

fn by_table_name<S: serde::Serializer>(tables: &[Counts; TABLES.len()], s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let mut map = s.serialize_map(Some(TABLES.len()))?;
    for (name, counts) in TABLES.iter().zip(tables.iter()) {
        map.serialize_entry(name, counts)?;
    }
    map.end()
}

impl Report {
    /// The counts of `table`.
    pub fn counts(&mut self, table: Table) -> &mut Counts {
        &mut self.tables[table as usize]
    }

    /// Adds a batch's outcome to the run's.
    pub fn merge(&mut self, batch: Report) {
        for (mine, theirs) in self.tables.iter_mut().zip(batch.tables.iter()) {
            mine.add(theirs);
        }
        self.refusals.extend(batch.refusals);
        self.conflicts.extend(batch.conflicts);
        for (scheme, n) in batch.unusable_passwords {
            *self.unusable_passwords.entry(scheme).or_default() += n;
        }
    }

    /// Learners read so far.
    pub fn learners(&self) -> u64 {
        self.tables[Table::User as usize].read
    }

    /// The summary table, then every refused row and conflict.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let width = TABLES.iter().map(|t| t.len()).max().unwrap_or(0);
        let _ = writeln!(
            out,
            "{:width$}  {:>9} {:>9} {:>9} {:>9} {:>9} {:>11}",
            "table", "read", "imported", "updated", "unchanged", "refused", "conflicting"
        );
        let mut total = Counts::default();
        for (name, c) in TABLES.iter().zip(self.tables.iter()) {
            total.add(c);
            let _ = writeln!(
                out,
                "{name:width$}  {:>9} {:>9} {:>9} {:>9} {:>9} {:>11}",
                c.read, c.imported, c.updated, c.unchanged, c.refused, c.conflicting
            );
        }
        let _ = writeln!(
            out,
            "{:width$}  {:>9} {:>9} {:>9} {:>9} {:>9} {:>11}",
            "total", total.read, total.imported, total.updated, total.unchanged, total.refused, total.conflicting
        );
        if self.dry_run {
            let _ = writeln!(out, "\ndry run: nothing was written");
        }
        if !self.unusable_passwords.is_empty() {
            let _ = writeln!(out, "\npasswords in a scheme userapi does not verify, imported as unusable:");
            for (scheme, n) in &self.unusable_passwords {
                let _ = writeln!(out, "  {scheme}: {n}");
            }
        }
        if !self.conflicts.is_empty() {
            let _ = writeln!(out, "\nconflicts (learner skipped):");
            for c in &self.conflicts {
                let _ = writeln!(
                    out,
                    "  LMS user {}: {} {:?} already belongs to account {}",
                    c.lms_user_id, c.field, c.value, c.userapi_id
                );
            }
        }
        if !self.refusals.is_empty() {
            let _ = writeln!(out, "\nrefused rows:");
            for r in &self.refusals {
                let _ = writeln!(out, "  {} {}: {}", r.table, r.id, r.reason);
            }
        }
        out
    }
}
