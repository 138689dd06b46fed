//! The SQLite and PostgreSQL migrations are two hand-kept copies of one
//! schema. Each set is applied to a fresh database, both are described
//! in backend-neutral terms, and every difference is reported at once.
//!
//! Compared per table: columns (normalised type, nullability, default,
//! auto-increment), the primary key, unique constraints and unique indexes
//! (as column lists), other indexes (as column lists) and foreign keys;
//! and the triggers and views of both databases, by name. Not compared:
//! bookkeeping tables (`_sqlx_migrations`, SQLite's own `sqlite_*`), the
//! PostgreSQL functions and triggers that `NOTIFY userapi_users` (migration
//! 0002: SQLite has one process, whose store tells the cache itself),
//! index names, column order, CHECK constraints (there are none).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use sqlx::Connection;

use crate::harness::{fresh_postgres_database, postgres_admin_connection};

/// Differences that are deliberate: (difference as reported, why).
const ALLOWED: &[(&str, &str)] = &[(
    "profiles.year_of_birth type: SQLite \"integer\", PostgreSQL \"text\"",
    "it holds sealed text (migration 0006); SQLite stores text in any column, and reads CAST it",
)];

/// PostgreSQL triggers calling a function of this prefix exist there only:
/// they `NOTIFY` the other instances' record caches (migration 0002).
const NOTIFY_FUNCTION_PREFIX: &str = "userapi_notify_";

/// Tables of the migration tools, not of the schema.
const BOOKKEEPING_TABLES: &[&str] = &["_sqlx_migrations", "sqlite_sequence"];

/// One column, in terms both backends share.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Column {
    /// See [`normalise_type`].
    kind: String,
    nullable: bool,
    /// See [`normalise_default`]; `None` for no default.
    default: Option<String>,
    /// SQLite `AUTOINCREMENT`, PostgreSQL identity or `serial`.
    auto_increment: bool,
}

/// One table, in terms both backends share.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Table {
    columns: BTreeMap<String, Column>,
    primary_key: Vec<String>,
    /// UNIQUE constraints and unique indexes alike (the primary key's not).
    unique: BTreeSet<Vec<String>>,
    /// Non-unique indexes; a partial one ends with the entry `WHERE …`.
    indexes: BTreeSet<Vec<String>>,
    /// `(columns) -> table(columns) ON DELETE … ON UPDATE …`.
    foreign_keys: BTreeSet<String>,
}

/// A whole database, in terms both backends share.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Schema {
    tables: BTreeMap<String, Table>,
    /// Triggers and views by name (`trigger x`, `view y`).
    other_objects: BTreeSet<String>,
}

/// A declared type as one of: integer, text, bytes, real, numeric,
/// boolean, timestamp, date, json, untyped, or `other:<type>`.
///
/// The project stores timestamps as BIGINT microseconds and flags as
/// integers 0/1 on both backends, so those read `integer`. SQLite has no
/// boolean storage class: a column it declares BOOLEAN holds 0/1 integers,
/// which is what PostgreSQL's `boolean` means; both read `boolean`, so they
/// compare equal. `boolean` differs from `integer` though, because the code
/// binds `i64` flags, which PostgreSQL refuses for a `boolean` column.
fn normalise_type(declared: &str) -> String {
    let lower = declared.trim().to_ascii_lowercase();
    let base = lower.split('(').next().unwrap_or_default().trim();
    let kind = match base {
        "integer" | "int" | "bigint" | "smallint" | "tinyint" | "mediumint" | "int2" | "int4" | "int8" | "serial"
        | "bigserial" | "smallserial" => "integer",
        "text" | "varchar" | "character varying" | "char" | "character" | "nchar" | "nvarchar" | "clob" | "citext" => {
            "text"
        }
        "blob" | "bytea" => "bytes",
        "real" | "double" | "double precision" | "float" | "float4" | "float8" => "real",
        "numeric" | "decimal" => "numeric",
        "boolean" | "bool" => "boolean",
        "timestamp" | "timestamptz" | "timestamp with time zone" | "timestamp without time zone" | "datetime" => {
            "timestamp"
        }
        "date" => "date",
        "json" | "jsonb" => "json",
        "" => "untyped",
        other => return format!("other:{other}"),
    };
    kind.to_owned()
}

/// A default expression without PostgreSQL's casts and parentheses
/// (`'{}'::text` → `'{}'`, `(-1)` → `-1`, `'5'::bigint` → `5`); a NULL
/// default is no default.
fn normalise_default(expression: &str) -> Option<String> {
    let mut e = expression.trim();
    loop {
        let before = e;
        if e.starts_with('(') && e.ends_with(')') {
            e = e[1..e.len() - 1].trim();
        }
        if let Some((value, cast)) = e.rsplit_once("::") {
            if cast.chars().all(|c| c.is_ascii_alphanumeric() || c == ' ' || c == '_') {
                e = value.trim();
            }
        }
        if e == before {
            break;
        }
    }
    let unquoted = e.strip_prefix('\'').and_then(|v| v.strip_suffix('\''));
    let e = match unquoted {
        Some(number) if number.parse::<f64>().is_ok() => number,
        _ => e,
    };
    if e.eq_ignore_ascii_case("null") {
        return None;
    }
    let quoted = e.starts_with('\'');
    Some(if quoted { e.to_owned() } else { e.to_ascii_lowercase() })
}

/// Every difference between the two descriptions, one line each.
fn differences(sqlite: &Schema, postgres: &Schema) -> Vec<String> {
    let mut out = Vec::new();
    let sides = |what: &str, s: &dyn std::fmt::Debug, p: &dyn std::fmt::Debug| {
        format!("{what}: SQLite {s:?}, PostgreSQL {p:?}")
    };
    for name in sqlite.tables.keys().chain(postgres.tables.keys()).collect::<BTreeSet<_>>() {
        let (s, p) = match (sqlite.tables.get(name), postgres.tables.get(name)) {
            (Some(s), Some(p)) => (s, p),
            (Some(_), None) => {
                out.push(format!("table {name}: only on SQLite"));
                continue;
            }
            (None, _) => {
                out.push(format!("table {name}: only on PostgreSQL"));
                continue;
            }
        };
        for column in s.columns.keys().chain(p.columns.keys()).collect::<BTreeSet<_>>() {
            let at = format!("{name}.{column}");
            match (s.columns.get(column), p.columns.get(column)) {
                (Some(sc), Some(pc)) => {
                    if sc.kind != pc.kind {
                        out.push(sides(&format!("{at} type"), &sc.kind, &pc.kind));
                    }
                    if sc.nullable != pc.nullable {
                        out.push(sides(&format!("{at} nullable"), &sc.nullable, &pc.nullable));
                    }
                    if sc.default != pc.default {
                        out.push(sides(&format!("{at} default"), &sc.default, &pc.default));
                    }
                    if sc.auto_increment != pc.auto_increment {
                        out.push(sides(&format!("{at} auto-increment"), &sc.auto_increment, &pc.auto_increment));
                    }
                }
                (Some(_), None) => out.push(format!("{at}: column only on SQLite")),
                (None, _) => out.push(format!("{at}: column only on PostgreSQL")),
            }
        }
        if s.primary_key != p.primary_key {
            out.push(sides(&format!("table {name} primary key"), &s.primary_key, &p.primary_key));
        }
        let one_side = |what: &str, s: &BTreeSet<Vec<String>>, p: &BTreeSet<Vec<String>>, out: &mut Vec<String>| {
            for columns in s.difference(p) {
                out.push(format!("table {name}: {what} ({}) only on SQLite", columns.join(", ")));
            }
            for columns in p.difference(s) {
                out.push(format!("table {name}: {what} ({}) only on PostgreSQL", columns.join(", ")));
            }
        };
        one_side("unique", &s.unique, &p.unique, &mut out);
        one_side("index", &s.indexes, &p.indexes, &mut out);
        for key in s.foreign_keys.difference(&p.foreign_keys) {
            out.push(format!("table {name}: foreign key {key} only on SQLite"));
        }
        for key in p.foreign_keys.difference(&s.foreign_keys) {
            out.push(format!("table {name}: foreign key {key} only on PostgreSQL"));
        }
    }
    for object in sqlite.other_objects.difference(&postgres.other_objects) {
        out.push(format!("{object}: only on SQLite"));
    }
    for object in postgres.other_objects.difference(&sqlite.other_objects) {
        out.push(format!("{object}: only on PostgreSQL"));
    }
    out
}

/// The differences not in [`ALLOWED`], and the allow-list entries that
/// match no difference any more (stale, so the list stays honest).
fn unexpected(found: Vec<String>) -> (Vec<String>, Vec<&'static str>) {
    let stale = ALLOWED.iter().filter(|(d, _)| !found.iter().any(|f| f == d)).map(|(d, _)| *d).collect();
    let unexpected = found.into_iter().filter(|f| !ALLOWED.iter().any(|(d, _)| d == f)).collect();
    (unexpected, stale)
}

fn migrations(backend: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../migrations").join(backend);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("migration entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "sql"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no migrations in {}", dir.display());
    files
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A fresh in-memory SQLite database with every SQLite migration applied.
fn sqlite_with_migrations() -> rusqlite::Connection {
    let conn = rusqlite::Connection::open_in_memory().expect("open SQLite");
    for file in migrations("sqlite") {
        conn.execute_batch(&read(&file)).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    }
    conn
}

/// Rows of a PRAGMA query, each value as text.
type Rows = Vec<Vec<Option<String>>>;

/// One foreign key of `pragma_foreign_key_list`, its rows gathered; a
/// `to` of `None` is the target's primary key.
struct SqliteForeignKey {
    target: String,
    from: Vec<String>,
    to: Vec<Option<String>>,
    on_delete: String,
    on_update: String,
}

/// (table, columns, target table, target columns, on delete, on update).
type PostgresForeignKey = (String, Vec<String>, String, Vec<String>, String, String);

fn describe_sqlite(conn: &rusqlite::Connection) -> Schema {
    let strings = |sql: &str, param: &str| -> Rows {
        let mut stmt = conn.prepare(sql).expect("prepare");
        let columns = stmt.column_count();
        let rows = stmt
            .query_map([param], |row| {
                (0..columns)
                    .map(|i| {
                        Ok(match row.get_ref(i)? {
                            rusqlite::types::ValueRef::Null => None,
                            rusqlite::types::ValueRef::Integer(v) => Some(v.to_string()),
                            rusqlite::types::ValueRef::Real(v) => Some(v.to_string()),
                            rusqlite::types::ValueRef::Text(t) | rusqlite::types::ValueRef::Blob(t) => {
                                Some(String::from_utf8_lossy(t).into_owned())
                            }
                        })
                    })
                    .collect::<rusqlite::Result<Vec<_>>>()
            })
            .expect("query");
        rows.collect::<rusqlite::Result<_>>().expect("rows")
    };
    let text = |v: &Option<String>| v.clone().unwrap_or_default();
    let mut schema = Schema::default();
    let objects =
        strings("SELECT type, name, COALESCE(sql, '') FROM sqlite_schema WHERE type <> ?1 ORDER BY name", "index");
    for object in &objects {
        let (kind, name, sql) = (text(&object[0]), text(&object[1]), text(&object[2]));
        match kind.as_str() {
            "trigger" | "view" => {
                schema.other_objects.insert(format!("{kind} {name}"));
            }
            "table" if !name.starts_with("sqlite_") && !BOOKKEEPING_TABLES.contains(&name.as_str()) => {
                let table = describe_sqlite_table(&strings, &name, &sql);
                schema.tables.insert(name, table);
            }
            _ => {}
        }
    }
    schema
}

fn describe_sqlite_table(strings: &dyn Fn(&str, &str) -> Rows, name: &str, sql: &str) -> Table {
    let text = |v: &Option<String>| v.clone().unwrap_or_default();
    let mut table = Table::default();
    let columns =
        strings("SELECT name, type, \"notnull\", dflt_value, pk FROM pragma_table_info(?1) ORDER BY cid", name);
    let mut primary_key: Vec<(i64, String)> = columns
        .iter()
        .filter_map(|c| Some((text(&c[4]).parse::<i64>().ok().filter(|&pk| pk > 0)?, text(&c[0]))))
        .collect();
    primary_key.sort();
    table.primary_key = primary_key.into_iter().map(|(_, column)| column).collect();
    let without_rowid = sql.to_ascii_uppercase().contains("WITHOUT ROWID");
    for c in &columns {
        let (column, declared) = (text(&c[0]), text(&c[1]));
        // A lone INTEGER PRIMARY KEY is the rowid: never NULL, whatever PRAGMA says.
        let rowid = !without_rowid && table.primary_key == [column.clone()] && declared.eq_ignore_ascii_case("INTEGER");
        table.columns.insert(
            column,
            Column {
                kind: normalise_type(&declared),
                nullable: text(&c[2]) == "0" && !rowid,
                default: c[3].as_deref().and_then(normalise_default),
                // AUTOINCREMENT is allowed on the rowid column only.
                auto_increment: rowid && sql.to_ascii_uppercase().contains("AUTOINCREMENT"),
            },
        );
    }
    for index in strings("SELECT name, \"unique\", origin, partial FROM pragma_index_list(?1)", name) {
        let (index_name, unique, origin, partial) =
            (text(&index[0]), text(&index[1]), text(&index[2]), text(&index[3]));
        if origin == "pk" {
            continue;
        }
        let mut key: Vec<String> = strings("SELECT name FROM pragma_index_info(?1) ORDER BY seqno", &index_name)
            .iter()
            .map(|c| c[0].clone().unwrap_or_else(|| "<expression>".into()))
            .collect();
        if partial == "1" {
            key.push("WHERE …".into());
        }
        if unique == "1" {
            table.unique.insert(key);
        } else {
            table.indexes.insert(key);
        }
    }
    let mut keys: BTreeMap<String, SqliteForeignKey> = BTreeMap::new();
    let fk_sql = "SELECT id, \"table\", \"from\", \"to\", on_delete, on_update FROM pragma_foreign_key_list(?1) ORDER BY id, seq";
    for fk in strings(fk_sql, name) {
        let entry = keys.entry(text(&fk[0])).or_insert_with(|| SqliteForeignKey {
            target: text(&fk[1]),
            from: vec![],
            to: vec![],
            on_delete: text(&fk[4]),
            on_update: text(&fk[5]),
        });
        entry.from.push(text(&fk[2]));
        entry.to.push(fk[3].clone());
    }
    for SqliteForeignKey { target, from, to, on_delete, on_update } in keys.into_values() {
        // `REFERENCES t` without columns means t's primary key.
        let to: Vec<String> = if to.iter().all(Option::is_some) {
            to.into_iter().flatten().collect()
        } else {
            strings("SELECT name FROM pragma_table_info(?1) WHERE pk > 0 ORDER BY pk", &target)
                .iter()
                .map(|c| text(&c[0]))
                .collect()
        };
        table.foreign_keys.insert(foreign_key(&from, &target, &to, &on_delete, &on_update));
    }
    table
}

fn foreign_key(from: &[String], target: &str, to: &[String], on_delete: &str, on_update: &str) -> String {
    format!(
        "({}) -> {target}({}) ON DELETE {} ON UPDATE {}",
        from.join(", "),
        to.join(", "),
        on_delete.to_ascii_uppercase(),
        on_update.to_ascii_uppercase()
    )
}

/// A fresh PostgreSQL database (`userapi_test_<uuid>`) with every
/// PostgreSQL migration applied, and its name.
async fn postgres_with_migrations() -> (sqlx::PgConnection, String) {
    let url = fresh_postgres_database().await;
    let name = url.rsplit('/').next().expect("database name").to_owned();
    let mut conn = sqlx::PgConnection::connect(&url).await.expect("connect to the test database");
    for file in migrations("postgres") {
        sqlx::raw_sql(&read(&file)).execute(&mut conn).await.unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    }
    (conn, name)
}

async fn drop_postgres(conn: sqlx::PgConnection, name: &str) {
    let _ = conn.close().await;
    let mut admin = postgres_admin_connection().await;
    // Best effort: ./scripts/test.sh drops whatever is left.
    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut admin).await;
    let _ = admin.close().await;
}

async fn describe_postgres(conn: &mut sqlx::PgConnection) -> Schema {
    let mut schema = Schema::default();
    let columns: Vec<(String, String, String, bool, Option<String>, bool)> = sqlx::query_as(
        "SELECT c.relname::text, a.attname::text, format_type(a.atttypid, a.atttypmod), NOT a.attnotnull, \
                pg_get_expr(d.adbin, d.adrelid), a.attidentity <> '' \
         FROM pg_attribute a \
         JOIN pg_class c ON c.oid = a.attrelid \
         JOIN pg_namespace n ON n.oid = c.relnamespace \
         LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum \
         WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped",
    )
    .fetch_all(&mut *conn)
    .await
    .expect("columns");
    for (table, column, declared, nullable, default, identity) in columns {
        if BOOKKEEPING_TABLES.contains(&table.as_str()) {
            continue;
        }
        let serial = default.as_deref().is_some_and(|d| d.starts_with("nextval("));
        let default = if serial { None } else { default.as_deref().and_then(normalise_default) };
        let kind = normalise_type(&declared);
        let column_description = Column { kind, nullable, default, auto_increment: identity || serial };
        schema.tables.entry(table).or_default().columns.insert(column, column_description);
    }
    let indexes: Vec<(String, bool, bool, bool, Vec<String>)> = sqlx::query_as(
        "SELECT t.relname::text, ix.indisunique, ix.indisprimary, ix.indpred IS NOT NULL, \
                ARRAY(SELECT COALESCE((SELECT a.attname::text FROM pg_attribute a \
                                       WHERE a.attrelid = ix.indrelid AND a.attnum = ix.indkey[k]), '<expression>') \
                      FROM generate_series(0, ix.indnkeyatts - 1) AS k ORDER BY k) \
         FROM pg_index ix \
         JOIN pg_class t ON t.oid = ix.indrelid \
         JOIN pg_namespace n ON n.oid = t.relnamespace \
         WHERE n.nspname = current_schema()",
    )
    .fetch_all(&mut *conn)
    .await
    .expect("indexes");
    for (table, unique, primary, partial, mut key) in indexes {
        let Some(table) = schema.tables.get_mut(&table) else { continue };
        if partial {
            key.push("WHERE …".into());
        }
        if primary {
            table.primary_key = key;
        } else if unique {
            table.unique.insert(key);
        } else {
            table.indexes.insert(key);
        }
    }
    let keys: Vec<PostgresForeignKey> = sqlx::query_as(
        "SELECT c.relname::text, \
                ARRAY(SELECT a.attname::text FROM unnest(con.conkey) WITH ORDINALITY AS k(attnum, i) \
                      JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum ORDER BY k.i), \
                f.relname::text, \
                ARRAY(SELECT a.attname::text FROM unnest(con.confkey) WITH ORDINALITY AS k(attnum, i) \
                      JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.attnum ORDER BY k.i), \
                con.confdeltype::text, con.confupdtype::text \
         FROM pg_constraint con \
         JOIN pg_class c ON c.oid = con.conrelid \
         JOIN pg_class f ON f.oid = con.confrelid \
         JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE con.contype = 'f' AND n.nspname = current_schema()",
    )
    .fetch_all(&mut *conn)
    .await
    .expect("foreign keys");
    let action = |code: &str| match code {
        "a" => "NO ACTION",
        "r" => "RESTRICT",
        "c" => "CASCADE",
        "n" => "SET NULL",
        "d" => "SET DEFAULT",
        _ => "UNKNOWN",
    };
    for (table, from, target, to, on_delete, on_update) in keys {
        if let Some(table) = schema.tables.get_mut(&table) {
            table.foreign_keys.insert(foreign_key(&from, &target, &to, action(&on_delete), action(&on_update)));
        }
    }
    let objects: Vec<(String,)> = sqlx::query_as(
        "SELECT 'trigger ' || t.tgname FROM pg_trigger t \
         JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace \
         JOIN pg_proc p ON p.oid = t.tgfoid \
         WHERE NOT t.tgisinternal AND n.nspname = current_schema() AND p.proname NOT LIKE $1 || '%' \
         UNION ALL \
         SELECT 'view ' || viewname FROM pg_views WHERE schemaname = current_schema()",
    )
    .bind(NOTIFY_FUNCTION_PREFIX)
    .fetch_all(&mut *conn)
    .await
    .expect("triggers and views");
    schema.other_objects = objects.into_iter().map(|(o,)| o).collect();
    schema
}

fn report(unexpected: &[String], stale: &[&str]) -> String {
    let mut message = String::new();
    if !unexpected.is_empty() {
        message.push_str("the SQLite and PostgreSQL migrations differ:\n");
        for d in unexpected {
            message.push_str(&format!("  - {d}\n"));
        }
        message.push_str("(fix the migrations, or add a deliberate difference to ALLOWED in tests/api/schema.rs)\n");
    }
    if !stale.is_empty() {
        message.push_str("allowed differences that no longer occur (remove them from ALLOWED):\n");
        for d in stale {
            message.push_str(&format!("  - {d}\n"));
        }
    }
    message
}

/// Both migration sets, applied in order, build the same tables, columns,
/// keys and indexes.
#[tokio::test]
async fn sqlite_and_postgres_migrations_build_the_same_schema() {
    let sqlite = describe_sqlite(&sqlite_with_migrations());
    let (mut conn, name) = postgres_with_migrations().await;
    let postgres = describe_postgres(&mut conn).await;
    drop_postgres(conn, &name).await;
    assert!(sqlite.tables.contains_key("users") && sqlite.tables["users"].columns.len() > 10, "{sqlite:#?}");
    assert!(postgres.tables.contains_key("users") && postgres.tables["users"].columns.len() > 10, "{postgres:#?}");
    let (unexpected, stale) = unexpected(differences(&sqlite, &postgres));
    assert!(unexpected.is_empty() && stale.is_empty(), "{}", report(&unexpected, &stale));
}

/// A column, index, unique constraint, table or trigger added to one
/// backend's migrations only is reported, each once (on top of whatever
/// the real migrations already differ by).
#[tokio::test]
async fn a_change_to_one_backend_only_is_reported() {
    let sqlite_extra = "CREATE INDEX users_last_login ON users (last_login);
         CREATE UNIQUE INDEX sessions_tenant_user ON sessions (tenant, user_id);
         CREATE TRIGGER users_touch AFTER UPDATE ON users BEGIN SELECT 1; END;";
    let postgres_extra = "ALTER TABLE users ADD COLUMN nickname TEXT;
         ALTER TABLE profiles ALTER COLUMN bio SET NOT NULL;
         ALTER TABLE profiles ALTER COLUMN city SET DEFAULT 'Paris';
         ALTER TABLE audit_log ALTER COLUMN field TYPE BOOLEAN USING field IS NOT NULL;
         CREATE TABLE extra (id BIGINT PRIMARY KEY);";
    let (mut conn, name) = postgres_with_migrations().await;
    let postgres = describe_postgres(&mut conn).await;
    sqlx::raw_sql(postgres_extra).execute(&mut conn).await.expect("doctor the PostgreSQL copy");
    let doctored_postgres = describe_postgres(&mut conn).await;
    drop_postgres(conn, &name).await;
    let sqlite = sqlite_with_migrations();
    let real = differences(&describe_sqlite(&sqlite), &postgres);
    sqlite.execute_batch(sqlite_extra).expect("doctor the SQLite copy");
    let doctored = differences(&describe_sqlite(&sqlite), &doctored_postgres);
    let mut added: Vec<&String> = doctored.iter().filter(|d| !real.contains(d)).collect();
    added.sort();
    assert_eq!(
        added,
        [
            "audit_log.field type: SQLite \"text\", PostgreSQL \"boolean\"",
            "profiles.bio nullable: SQLite true, PostgreSQL false",
            "profiles.city default: SQLite None, PostgreSQL Some(\"'Paris'\")",
            "table extra: only on PostgreSQL",
            "table sessions: unique (tenant, user_id) only on SQLite",
            "table users: index (last_login) only on SQLite",
            "trigger users_touch: only on SQLite",
            "users.nickname: column only on PostgreSQL",
        ]
    );
    assert_eq!(doctored.len(), real.len() + added.len(), "nothing reported twice: {doctored:#?}");
}

/// The comparison itself, on doctored descriptions: every kind of
/// difference is reported, in either direction.
#[test]
fn differences_name_each_kind_of_mismatch() {
    let column = |kind: &str| Column { kind: kind.into(), nullable: false, default: None, auto_increment: false };
    let mut table = Table::default();
    table.columns.insert("id".into(), Column { auto_increment: true, ..column("integer") });
    table.columns.insert("name".into(), column("text"));
    table.primary_key = vec!["id".into()];
    table.unique.insert(vec!["name".into()]);
    table.indexes.insert(vec!["name".into(), "id".into()]);
    table.foreign_keys.insert("(id) -> other(id) ON DELETE CASCADE ON UPDATE NO ACTION".into());
    let mut base = Schema::default();
    base.tables.insert("t".into(), table);
    assert_eq!(differences(&base, &base.clone()), Vec::<String>::new());

    let mut doctored = base.clone();
    let t = doctored.tables.get_mut("t").unwrap();
    t.columns.insert("extra".into(), column("integer"));
    t.columns.get_mut("name").unwrap().nullable = true;
    t.columns.get_mut("id").unwrap().auto_increment = false;
    t.primary_key = vec!["id".into(), "name".into()];
    t.unique.clear();
    t.indexes.insert(vec!["extra".into()]);
    t.foreign_keys.clear();
    doctored.tables.insert("u".into(), Table::default());
    assert_eq!(
        differences(&base, &doctored),
        [
            "t.extra: column only on PostgreSQL",
            "t.id auto-increment: SQLite true, PostgreSQL false",
            "t.name nullable: SQLite false, PostgreSQL true",
            "table t primary key: SQLite [\"id\"], PostgreSQL [\"id\", \"name\"]",
            "table t: unique (name) only on SQLite",
            "table t: index (extra) only on PostgreSQL",
            "table t: foreign key (id) -> other(id) ON DELETE CASCADE ON UPDATE NO ACTION only on SQLite",
            "table u: only on PostgreSQL",
        ]
    );
    assert_eq!(differences(&doctored, &base)[0], "t.extra: column only on SQLite");
}

/// Each backend's spelling of a type reads as one normalised type.
#[test]
fn types_and_defaults_normalise_across_backends() {
    let same = [
        ("INTEGER", "bigint"),
        ("BIGINT", "integer"),
        ("SMALLINT", "int4"),
        ("TEXT", "character varying(20)"),
        ("VARCHAR(20)", "text"),
        ("BLOB", "bytea"),
        ("REAL", "double precision"),
        ("BOOLEAN", "boolean"),
        ("DATETIME", "timestamp with time zone"),
    ];
    for (sqlite, postgres) in same {
        assert_eq!(normalise_type(sqlite), normalise_type(postgres), "{sqlite} / {postgres}");
    }
    assert_ne!(normalise_type("INTEGER"), normalise_type("boolean"), "flags are bound as i64");
    assert_ne!(normalise_type("BIGINT"), normalise_type("timestamp with time zone"), "timestamps are µs integers");
    assert_ne!(normalise_type("TEXT"), normalise_type("jsonb"));
    for (sqlite, postgres) in
        [("0", "0"), ("'{}'", "'{}'::text"), ("-1", "(-1)"), ("5", "'5'::bigint"), ("TRUE", "true")]
    {
        assert_eq!(normalise_default(sqlite), normalise_default(postgres), "{sqlite} / {postgres}");
    }
    assert_eq!(normalise_default("NULL"), None);
    assert_ne!(normalise_default("'A'"), normalise_default("'a'::text"));
}
