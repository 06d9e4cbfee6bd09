//! `taskapi backup`: a consistent copy of a SQLite database that a server
//! may be serving and writing at the same moment.
//!
//! The copy is made with SQLite's online backup API, a few hundred pages
//! per step, inside one read transaction on the source. That transaction
//! is what makes it work under a write load. Without it every step opens a
//! read transaction of its own, and a step that finds the file changed by
//! another connection (the server's writer, in another process) starts the
//! whole copy again from page 1 (SQLite's `pager_reset`): under writes that
//! never pause the backup need never finish. With it, every step reads the
//! same snapshot, so nothing written meanwhile is seen, nothing restarts,
//! and the copy is the database exactly as of the moment the transaction
//! began. In WAL mode (every taskapi database: the server sets it, and the
//! mode is kept in the file) a reader blocks no writer; the price is that
//! the write-ahead log cannot be reset while the snapshot is held, so it
//! grows by whatever is written during the backup and is reset at a later
//! checkpoint.
//!
//! `VACUUM INTO` gives the same consistency in one statement, but no
//! progress, and it rebuilds every index rather than copying pages.
//!
//! The copy is written under `OUT.partial` and linked to `OUT` only after
//! it has passed `PRAGMA integrity_check`, so an interrupted backup never
//! leaves something half written under the final name, and an existing
//! `OUT` is never replaced.

use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rusqlite::backup::{Backup, StepResult};
use rusqlite::{Connection, OpenFlags};

/// Pages copied per step: 1 MiB with the default 4 KiB page. A step costs a
/// millisecond or so, and the progress callback runs between steps.
const PAGES_PER_STEP: i32 = 256;

/// How long a step that found a lock waits before trying again, and how
/// long it keeps trying. With the source snapshot held, only a lock on the
/// destination (ours alone) can make a step busy, so this is a safety net.
const BUSY_PAUSE: Duration = Duration::from_millis(10);
const BUSY_GIVE_UP: Duration = Duration::from_secs(5);

/// The first 16 bytes of every SQLite database file.
const SQLITE_HEADER: &[u8; 16] = b"SQLite format 3\0";

/// What a finished backup wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    /// Database pages copied.
    pub pages: u64,
    /// The size of the copy in bytes.
    pub bytes: u64,
}

/// Copies the SQLite database at `source` to a new file `out`, and checks
/// the copy. `progress(copied, total)` is called after every step with the
/// pages copied so far, the last time with `copied == total`, before the
/// check (which reads the whole copy again).
///
/// Refuses, touching nothing, when `out` exists or `source` is not an
/// existing SQLite database file (it is never created). On any failure
/// after the copy began, the partial file is removed. The error is one
/// line for the user.
pub fn run(
    source: &Path,
    out: &Path,
    mut progress: impl FnMut(u64, u64),
) -> Result<Summary, String> {
    if out.symlink_metadata().is_ok() {
        return Err(format!(
            "{} already exists; not overwriting it (choose a new name)",
            out.display()
        ));
    }
    let source = open_source(source)?;
    let partial = Partial::create(out)?;
    let pages = copy(&source, &partial.path, &mut progress)?;
    drop(source);
    check_integrity(&partial.path)?;
    let bytes = partial
        .path
        .metadata()
        .map_err(|error| format!("reading {}: {error}", partial.path.display()))?
        .len();
    partial.publish(out)?;
    Ok(Summary { pages, bytes })
}

/// Opens `path` read-only after making sure it is a SQLite database: a
/// missing path must be refused, not created as an empty database, and an
/// empty or foreign file must not be "backed up" as one.
fn open_source(path: &Path) -> Result<Connection, String> {
    let shown = path.display();
    let mut file = File::open(path).map_err(|error| match error.kind() {
        ErrorKind::NotFound => format!("no database at {shown}: nothing to back up"),
        _ => format!("cannot read {shown}: {error}"),
    })?;
    if file.metadata().is_ok_and(|metadata| metadata.is_dir()) {
        return Err(format!("{shown} is a directory, not a SQLite database"));
    }
    let mut header = [0u8; 16];
    if file.read_exact(&mut header).is_err() || &header != SQLITE_HEADER {
        return Err(format!("{shown} is not a SQLite database"));
    }
    // Without SQLITE_OPEN_CREATE, a file deleted since the check above is an
    // error here too, not a new empty database. Read-write, yet no statement
    // may write (`query_only`): a read-only connection to a WAL database
    // that no server has open leaves an empty -wal and a -shm file behind,
    // where the last read-write connection to close removes them (SQLite
    // opens it read-only anyway if the file is not writable for us). That
    // close also checkpoints a log left by a server that was killed, as
    // any SQLite connection would: committed data, moved into the file.
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|error| format!("cannot open {shown}: {error}"))?;
    // Starting a read can meet a lock for a moment (a checkpoint resetting
    // the log); wait for it as the server's connections do.
    conn.busy_timeout(BUSY_GIVE_UP)
        .and_then(|()| conn.pragma_update(None, "query_only", true))
        .map_err(|error| format!("cannot open {shown}: {error}"))?;
    Ok(conn)
}

/// Copies every page of `source`, as of one snapshot, into the empty file
/// at `dest`, and returns the number of pages.
fn copy(
    source: &Connection,
    dest: &Path,
    progress: &mut impl FnMut(u64, u64),
) -> Result<u64, String> {
    let failed = |error: rusqlite::Error| format!("copying the database: {error}");
    // The snapshot: `BEGIN` alone takes nothing; the first read does, and
    // every step below then reads through this transaction instead of
    // opening (and closing) one of its own. Dropped at the end of this
    // function, which rolls the (read-only) transaction back.
    let snapshot = source.unchecked_transaction().map_err(failed)?;
    snapshot
        .query_row("SELECT count(*) FROM sqlite_schema", [], |_| Ok(()))
        .map_err(failed)?;

    let mut dest = Connection::open_with_flags(
        dest,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|error| format!("opening {}: {error}", dest.display()))?;
    let backup = Backup::new(&snapshot, &mut dest).map_err(failed)?;
    let mut busy_since = None;
    loop {
        let step = backup.step(PAGES_PER_STEP).map_err(failed)?;
        match step {
            StepResult::Done | StepResult::More => {
                busy_since = None;
                let now = backup.progress();
                let total = u64::try_from(now.pagecount).unwrap_or(0);
                let remaining = u64::try_from(now.remaining).unwrap_or(0);
                progress(total.saturating_sub(remaining), total);
                if step == StepResult::Done {
                    return Ok(total);
                }
            }
            // Busy, Locked, and whatever a later rusqlite adds: retry.
            _ => {
                let since = *busy_since.get_or_insert_with(Instant::now);
                if since.elapsed() >= BUSY_GIVE_UP {
                    return Err(format!(
                        "copying the database: still locked after {BUSY_GIVE_UP:?}"
                    ));
                }
                std::thread::sleep(BUSY_PAUSE);
            }
        }
    }
}

/// Opens the finished copy afresh (reading what is on disk, not what the
/// copying connection cached) and runs SQLite's full consistency check.
fn check_integrity(path: &Path) -> Result<(), String> {
    let failed = |error: rusqlite::Error| format!("the copy failed its integrity check: {error}");
    // Read-write so that the -wal and -shm files SQLite may create beside a
    // copy of a WAL database are removed again when this connection closes.
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(failed)?;
    let mut statement = conn.prepare("PRAGMA integrity_check").map_err(failed)?;
    let findings = statement
        .query_map([], |row| row.get::<_, String>(0))
        .map_err(failed)?
        .collect::<Result<Vec<String>, _>>()
        .map_err(failed)?;
    if findings == ["ok"] {
        return Ok(());
    }
    // A row can hold several lines, under a `*** in database main ***`
    // heading; the message must stay on one line.
    let problems: Vec<&str> = findings
        .iter()
        .flat_map(|finding| finding.lines())
        .filter(|line| !line.is_empty() && !line.starts_with("***"))
        .collect();
    // The copy is the source's pages as they were, so the source is most
    // likely damaged too (or the disk under the copy is).
    Err(format!(
        "the copy failed its integrity check, so the database itself may be damaged \
         (check it with PRAGMA integrity_check): {} ({} problems)",
        problems.first().unwrap_or(&"no answer"),
        problems.len()
    ))
}

/// The copy while it is being made: `OUT.partial`, removed (with any
/// journal SQLite left beside it) when this is dropped, whether the backup
/// failed or was published under its final name.
struct Partial {
    path: PathBuf,
}

impl Partial {
    /// Creates the empty file, readable by its owner only: a copy holds the
    /// token signing key and password hashes, as the database does.
    fn create(out: &Path) -> Result<Partial, String> {
        let mut name = out.as_os_str().to_owned();
        name.push(".partial");
        let path = PathBuf::from(name);
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(|error| match error.kind() {
                ErrorKind::AlreadyExists => format!(
                    "{} exists: another backup is writing it, or one was interrupted \
                     (then remove it)",
                    path.display()
                ),
                _ => format!("cannot create {}: {error}", path.display()),
            })?;
        Ok(Partial { path })
    }

    /// Gives the checked copy its final name. A hard link, unlike a rename,
    /// fails if `out` appeared meanwhile instead of replacing it; on a file
    /// system without hard links (FAT, exFAT, some network mounts) it falls
    /// back to a rename after checking again that `out` is still absent.
    fn publish(self, out: &Path) -> Result<(), String> {
        let shown = out.display();
        match std::fs::hard_link(&self.path, out) {
            Ok(()) => {}
            Err(error) if error.kind() == ErrorKind::AlreadyExists => {
                return Err(format!(
                    "{shown} appeared during the backup; not replacing it"
                ));
            }
            Err(_) if out.symlink_metadata().is_ok() => {
                return Err(format!(
                    "{shown} appeared during the backup; not replacing it"
                ));
            }
            Err(_) => std::fs::rename(&self.path, out)
                .map_err(|error| format!("cannot name the copy {shown}: {error}"))?,
        }
        // The copy's content was synced by SQLite when the backup
        // committed; syncing the directory makes the new name durable too.
        // Best effort: some file systems cannot sync a directory, and then
        // only the name, not the data, is at risk in a power cut.
        if let Some(dir) = out.parent().map(|dir| {
            if dir.as_os_str().is_empty() {
                Path::new(".")
            } else {
                dir
            }
        }) && let Ok(dir) = File::open(dir)
        {
            let _ = dir.sync_all();
        }
        Ok(())
    }
}

impl Drop for Partial {
    fn drop(&mut self) {
        for suffix in ["", "-journal", "-wal", "-shm"] {
            let mut name = self.path.as_os_str().to_owned();
            name.push(suffix);
            // Most of these never existed; a failure leaves a file named
            // `.partial`, which says what it is.
            let _ = std::fs::remove_file(PathBuf::from(name));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Some 1,300 pages of 4 KiB: five steps.
    const ROWS: usize = 10_000;

    fn database(path: &Path, rows: usize) {
        let conn = Connection::open(path).unwrap();
        conn.execute_batch(
            "PRAGMA journal_mode = WAL;
             CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT NOT NULL);",
        )
        .unwrap();
        conn.execute_batch("BEGIN").unwrap();
        for n in 0..rows {
            conn.execute(
                "INSERT INTO t (body) VALUES (?1)",
                [format!("row {n:0>500}")],
            )
            .unwrap();
        }
        conn.execute_batch("COMMIT").unwrap();
    }

    fn rows(path: &Path) -> i64 {
        Connection::open(path)
            .unwrap()
            .query_row("SELECT count(*) FROM t", [], |row| row.get(0))
            .unwrap()
    }

    #[test]
    fn a_backup_copies_every_row_reports_progress_and_leaves_one_private_file() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let (source, out) = (dir.path().join("s.db"), dir.path().join("b.db"));
        database(&source, ROWS);
        let mut calls = Vec::new();
        let summary = run(&source, &out, |done, total| calls.push((done, total))).unwrap();
        assert_eq!(rows(&out), ROWS as i64);
        assert!(summary.pages > PAGES_PER_STEP as u64, "{summary:?}");
        assert_eq!(summary.bytes, out.metadata().unwrap().len());
        // Several steps, each reporting more pages of the same total.
        assert!(calls.len() >= 2, "{calls:?}");
        assert!(calls.windows(2).all(|pair| pair[0].0 < pair[1].0));
        assert!(calls.iter().all(|&(_, total)| total == summary.pages));
        assert_eq!(calls.last(), Some(&(summary.pages, summary.pages)));
        assert_eq!(out.metadata().unwrap().permissions().mode() & 0o777, 0o600);
        let mut names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| name.starts_with("b.db"))
            .collect();
        names.sort();
        assert_eq!(names, ["b.db"]);
    }

    #[test]
    fn the_copy_is_the_snapshot_the_backup_began_with_despite_writes_between_steps() {
        let dir = tempfile::tempdir().unwrap();
        let (source, out) = (dir.path().join("s.db"), dir.path().join("b.db"));
        database(&source, ROWS);
        // Another connection writes after each of the first steps, as a
        // server would. Without the held snapshot each of those writes would
        // restart the copy, which would then end with the late rows in it.
        let writer = Connection::open(&source).unwrap();
        let mut steps = 0;
        run(&source, &out, |_, _| {
            steps += 1;
            if steps <= 5 {
                writer
                    .execute("INSERT INTO t (body) VALUES ('late')", [])
                    .unwrap();
            }
        })
        .unwrap();
        assert!(steps >= 2);
        assert_eq!(rows(&source), ROWS as i64 + 5);
        assert_eq!(rows(&out), ROWS as i64);
    }

    #[test]
    fn a_file_that_is_not_a_database_is_refused_and_nothing_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let (source, out) = (dir.path().join("s.db"), dir.path().join("b.db"));
        std::fs::write(&source, "just text, long enough to hold a header").unwrap();
        let error = run(&source, &out, |_, _| {}).unwrap_err();
        assert!(error.contains("not a SQLite database"), "{error}");
        std::fs::write(&source, "").unwrap();
        assert!(run(&source, &out, |_, _| {}).is_err());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
