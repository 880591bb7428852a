//! The model of a disk that forgets: a backing directory that holds what the
//! program wrote, and, beside it, what of that was not yet made durable.
//!
//! Writes pass through to the backing files at once, so reads (and the
//! kernel's shared mmap over them) see them. Before the first unsynced write
//! to a 4 KiB page since the file's last `fsync`, the page's durable content
//! is kept aside (an undo copy). `fsync`/`fdatasync` on the file drops its
//! undo copies: its content is durable. A write through a handle opened
//! with `O_DSYNC` (or `O_SYNC`) is durable on its own: it is patched into
//! the undo copies, so a cut keeps it and nothing else unsynced.
//!
//! A power cut ([`Disk::power_cut`]) rolls every file back to its durable
//! content and size. In torn mode each unsynced page independently either
//! reached the disk whole or did not, as a disk that reorders its writes
//! would leave it. In strict mode a directory's entries (created, removed,
//! renamed) are durable only once the directory itself is synced; a cut
//! puts them back as they were at that sync (removed files come back from a
//! hidden graveyard with their durable content).
//!
//! Leniency, said out loud: an `fsync` through an `O_DSYNC` handle syncs
//! nothing more than that handle's own writes did (stricter than Linux);
//! metadata other than size and directory entries (modes, times) is always
//! durable.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

pub const PAGE: u64 = 4096;
pub const ROOT: u64 = 1;
/// Where removed files wait, in strict mode, in case a cut brings them back.
pub const GRAVEYARD: &str = ".forgetfs-graveyard";

/// How a power cut treats the pages written since the last sync.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cut {
    /// None of them reached the disk.
    Plain,
    /// Each reached it whole or not at all, chosen by this seed.
    Torn(u64),
}

/// What a cut threw away.
#[derive(Debug, Default, Clone)]
pub struct CutReport {
    pub files_rolled_back: usize,
    pub pages_lost: usize,
    pub pages_kept: usize,
    pub entries_undone: usize,
}

struct Node {
    /// Relative to the backing root; empty for the root.
    path: PathBuf,
}

/// A file's content since its last sync.
struct Unsynced {
    durable_size: u64,
    /// The durable content of each page written since, `PAGE` bytes,
    /// zero past the durable end.
    undo: BTreeMap<u64, Vec<u8>>,
    /// Every page written since (the undo pages and those past the end).
    dirty: BTreeSet<u64>,
}

struct Handle {
    ino: u64,
    file: File,
    dsync: bool,
}

pub struct Disk {
    root: PathBuf,
    strict: bool,
    nodes: HashMap<u64, Node>,
    by_path: HashMap<PathBuf, u64>,
    next_ino: u64,
    files: HashMap<u64, Unsynced>,
    /// Strict mode: the durable entries of each directory changed since its
    /// last sync.
    dirs: HashMap<u64, BTreeMap<OsString, u64>>,
    handles: HashMap<u64, Handle>,
    next_fh: u64,
    /// The power is off: every operation fails with EIO.
    pub dead: bool,
    pub syncs: u64,
}

fn enoent() -> io::Error {
    io::Error::from_raw_os_error(libc::ENOENT)
}

impl Disk {
    /// Everything in `root` now is durable (a disk as it comes up).
    pub fn new(root: &Path, strict: bool) -> Disk {
        let _ = fs::remove_dir_all(root.join(GRAVEYARD));
        let mut nodes = HashMap::new();
        nodes.insert(
            ROOT,
            Node {
                path: PathBuf::new(),
            },
        );
        let mut by_path = HashMap::new();
        by_path.insert(PathBuf::new(), ROOT);
        Disk {
            root: root.to_path_buf(),
            strict,
            nodes,
            by_path,
            next_ino: ROOT + 1,
            files: HashMap::new(),
            dirs: HashMap::new(),
            handles: HashMap::new(),
            next_fh: 1,
            dead: false,
            syncs: 0,
        }
    }

    fn alive(&self) -> io::Result<()> {
        if self.dead {
            Err(io::Error::from_raw_os_error(libc::EIO))
        } else {
            Ok(())
        }
    }

    fn abs(&self, rel: &Path) -> PathBuf {
        self.root.join(rel)
    }

    fn rel(&self, ino: u64) -> io::Result<PathBuf> {
        self.nodes
            .get(&ino)
            .map(|n| n.path.clone())
            .ok_or_else(enoent)
    }

    pub fn path(&self, ino: u64) -> io::Result<PathBuf> {
        Ok(self.abs(&self.rel(ino)?))
    }

    fn ino_for(&mut self, rel: PathBuf) -> u64 {
        if let Some(&ino) = self.by_path.get(&rel) {
            return ino;
        }
        let ino = self.next_ino;
        self.next_ino += 1;
        self.by_path.insert(rel.clone(), ino);
        self.nodes.insert(ino, Node { path: rel });
        ino
    }

    fn child(&self, parent: u64, name: &std::ffi::OsStr) -> io::Result<PathBuf> {
        if parent == ROOT && name == GRAVEYARD {
            return Err(enoent());
        }
        Ok(self.rel(parent)?.join(name))
    }

    pub fn lookup(
        &mut self,
        parent: u64,
        name: &std::ffi::OsStr,
    ) -> io::Result<(u64, fs::Metadata)> {
        self.alive()?;
        let rel = self.child(parent, name)?;
        let meta = fs::symlink_metadata(self.abs(&rel))?;
        Ok((self.ino_for(rel), meta))
    }

    pub fn getattr(&self, ino: u64) -> io::Result<fs::Metadata> {
        self.alive()?;
        fs::symlink_metadata(self.path(ino)?)
    }

    /// A directory's entries as (inode, name, is a directory).
    pub fn entries(&mut self, ino: u64) -> io::Result<Vec<(u64, OsString, bool)>> {
        self.alive()?;
        let rel = self.rel(ino)?;
        let mut out = Vec::new();
        for e in fs::read_dir(self.abs(&rel))? {
            let e = e?;
            let name = e.file_name();
            if ino == ROOT && name == GRAVEYARD {
                continue;
            }
            let is_dir = e.file_type()?.is_dir();
            out.push((self.ino_for(rel.join(&name)), name, is_dir));
        }
        Ok(out)
    }

    /// Strict mode: keep the directory's durable entries before its first
    /// change since it was synced.
    fn before_dir_change(&mut self, dir: u64) -> io::Result<()> {
        if self.strict && !self.dirs.contains_key(&dir) {
            let entries = self
                .entries(dir)?
                .into_iter()
                .map(|(ino, name, _)| (name, ino))
                .collect();
            self.dirs.insert(dir, entries);
        }
        Ok(())
    }

    fn add_handle(&mut self, ino: u64, file: File, flags: i32) -> u64 {
        let fh = self.next_fh;
        self.next_fh += 1;
        let dsync = flags & libc::O_DSYNC != 0;
        self.handles.insert(fh, Handle { ino, file, dsync });
        fh
    }

    fn open_options(flags: i32) -> OpenOptions {
        // Read and write whatever the program asked: the undo copies are
        // read through the handle that writes.
        let _ = flags;
        let mut o = OpenOptions::new();
        o.read(true).write(true);
        o
    }

    pub fn create(
        &mut self,
        parent: u64,
        name: &std::ffi::OsStr,
        mode: u32,
        flags: i32,
    ) -> io::Result<(u64, u64, fs::Metadata)> {
        self.alive()?;
        let rel = self.child(parent, name)?;
        self.before_dir_change(parent)?;
        let file = Self::open_options(flags)
            .create_new(true)
            .mode(mode)
            .open(self.abs(&rel))?;
        let meta = file.metadata()?;
        let ino = self.ino_for(rel);
        // Its name may be durable (non-strict), its content is not yet.
        self.files.insert(
            ino,
            Unsynced {
                durable_size: 0,
                undo: BTreeMap::new(),
                dirty: BTreeSet::new(),
            },
        );
        let fh = self.add_handle(ino, file, flags);
        Ok((ino, fh, meta))
    }

    pub fn mkdir(
        &mut self,
        parent: u64,
        name: &std::ffi::OsStr,
        mode: u32,
    ) -> io::Result<(u64, fs::Metadata)> {
        self.alive()?;
        let rel = self.child(parent, name)?;
        self.before_dir_change(parent)?;
        fs::DirBuilder::new().mode(mode).create(self.abs(&rel))?;
        let meta = fs::symlink_metadata(self.abs(&rel))?;
        Ok((self.ino_for(rel), meta))
    }

    pub fn open(&mut self, ino: u64, flags: i32) -> io::Result<u64> {
        self.alive()?;
        let file = Self::open_options(flags).open(self.path(ino)?)?;
        if flags & libc::O_TRUNC != 0 {
            self.truncate(ino, 0)?;
        }
        Ok(self.add_handle(ino, file, flags))
    }

    pub fn release(&mut self, fh: u64) {
        self.handles.remove(&fh);
    }

    fn handle(&self, fh: u64) -> io::Result<&Handle> {
        self.handles
            .get(&fh)
            .ok_or_else(|| io::Error::from_raw_os_error(libc::EBADF))
    }

    pub fn read(&self, fh: u64, offset: u64, size: u32) -> io::Result<Vec<u8>> {
        self.alive()?;
        let h = self.handle(fh)?;
        let mut buf = vec![0; size as usize];
        let mut got = 0;
        while got < buf.len() {
            match h.file.read_at(&mut buf[got..], offset + got as u64)? {
                0 => break,
                n => got += n,
            }
        }
        buf.truncate(got);
        Ok(buf)
    }

    /// The file's unsynced state, created (all durable) on first need.
    fn unsynced(&mut self, ino: u64) -> io::Result<&mut Unsynced> {
        if !self.files.contains_key(&ino) {
            let size = fs::metadata(self.path(ino)?)?.len();
            self.files.insert(
                ino,
                Unsynced {
                    durable_size: size,
                    undo: BTreeMap::new(),
                    dirty: BTreeSet::new(),
                },
            );
        }
        Ok(self.files.get_mut(&ino).unwrap())
    }

    /// Marks the pages of `[start, end)` as written since the last sync,
    /// keeping the durable content of each first.
    fn dirty(&mut self, ino: u64, file: &File, start: u64, end: u64) -> io::Result<()> {
        let u = self.unsynced(ino)?;
        if start >= end {
            return Ok(());
        }
        for page in start / PAGE..end.div_ceil(PAGE) {
            if !u.dirty.insert(page) {
                continue;
            }
            let at = page * PAGE;
            if at < u.durable_size {
                let mut old = vec![0; PAGE as usize];
                let want = (u.durable_size - at).min(PAGE) as usize;
                let mut got = 0;
                while got < want {
                    match file.read_at(&mut old[got..want], at + got as u64)? {
                        0 => break,
                        n => got += n,
                    }
                }
                u.undo.insert(page, old);
            }
        }
        Ok(())
    }

    pub fn write(&mut self, fh: u64, offset: u64, data: &[u8]) -> io::Result<usize> {
        self.alive()?;
        let h = self.handle(fh)?;
        let (ino, dsync, file) = (h.ino, h.dsync, h.file.try_clone()?);
        let end = offset + data.len() as u64;
        if !dsync {
            self.dirty(ino, &file, offset, end)?;
            file.write_all_at(data, offset)?;
            return Ok(data.len());
        }
        file.write_all_at(data, offset)?;
        // Durable on its own: the bytes join the durable content.
        let Some(u) = self.files.get_mut(&ino) else {
            return Ok(data.len());
        };
        if end > u.durable_size {
            // The durable file grows to `end`; pages written before past the
            // old end are durable as holes (zeros) until synced.
            for &page in u.dirty.iter() {
                if page * PAGE >= u.durable_size && page * PAGE < end {
                    u.undo.entry(page).or_insert_with(|| vec![0; PAGE as usize]);
                }
            }
            u.durable_size = end;
        }
        for (&page, old) in u.undo.range_mut(offset / PAGE..end.div_ceil(PAGE)) {
            let (p0, p1) = (page * PAGE, page * PAGE + PAGE);
            let (a, b) = (offset.max(p0), end.min(p1));
            old[(a - p0) as usize..(b - p0) as usize]
                .copy_from_slice(&data[(a - offset) as usize..(b - offset) as usize]);
        }
        Ok(data.len())
    }

    /// `fsync`/`fdatasync` through handle `fh`.
    pub fn fsync(&mut self, fh: u64) -> io::Result<()> {
        self.alive()?;
        let h = self.handle(fh)?;
        if !h.dsync {
            let ino = h.ino;
            self.files.remove(&ino);
            self.syncs += 1;
        }
        Ok(())
    }

    pub fn fsyncdir(&mut self, ino: u64) -> io::Result<()> {
        self.alive()?;
        self.dirs.remove(&ino);
        self.syncs += 1;
        Ok(())
    }

    pub fn truncate(&mut self, ino: u64, size: u64) -> io::Result<()> {
        self.alive()?;
        let path = self.path(ino)?;
        let file = OpenOptions::new().read(true).write(true).open(&path)?;
        let len = file.metadata()?.len();
        if size < len {
            let durable = self.unsynced(ino)?.durable_size;
            self.dirty(ino, &file, size, durable.max(size))?;
            // The tail of the page the new end falls in is zeroed too.
            self.dirty(ino, &file, size, size.div_ceil(PAGE) * PAGE)?;
        } else {
            self.dirty(ino, &file, len, size)?;
        }
        file.set_len(size)
    }

    fn detach(&mut self, ino: u64) -> io::Result<()> {
        let is_dir = fs::symlink_metadata(self.path(ino)?)?.is_dir();
        if self.strict {
            fs::create_dir_all(self.root.join(GRAVEYARD))?;
            return self.move_node(ino, Path::new(GRAVEYARD).join(ino.to_string()));
        }
        let path = self.path(ino)?;
        if is_dir {
            fs::remove_dir(&path)?;
        } else {
            fs::remove_file(&path)?;
        }
        let rel = self.nodes.remove(&ino).unwrap().path;
        self.by_path.remove(&rel);
        self.files.remove(&ino);
        Ok(())
    }

    pub fn unlink(&mut self, parent: u64, name: &std::ffi::OsStr, dir: bool) -> io::Result<()> {
        self.alive()?;
        let (ino, meta) = self.lookup(parent, name)?;
        if meta.is_dir() != dir {
            return Err(io::Error::from_raw_os_error(if dir {
                libc::ENOTDIR
            } else {
                libc::EISDIR
            }));
        }
        if dir && fs::read_dir(self.path(ino)?)?.next().is_some() {
            return Err(io::Error::from_raw_os_error(libc::ENOTEMPTY));
        }
        self.before_dir_change(parent)?;
        self.detach(ino)
    }

    pub fn rename(
        &mut self,
        parent: u64,
        name: &std::ffi::OsStr,
        new_parent: u64,
        new_name: &std::ffi::OsStr,
    ) -> io::Result<()> {
        self.alive()?;
        let (ino, _) = self.lookup(parent, name)?;
        let target = self.child(new_parent, new_name)?;
        self.before_dir_change(parent)?;
        self.before_dir_change(new_parent)?;
        if let Ok((old, _)) = self.lookup(new_parent, new_name) {
            if old == ino {
                return Ok(());
            }
            self.detach(old)?;
        }
        self.move_node(ino, target)
    }

    /// Moves a node (and, for a directory, everything under it).
    fn move_node(&mut self, ino: u64, to: PathBuf) -> io::Result<()> {
        let from = self.rel(ino)?;
        fs::rename(self.abs(&from), self.abs(&to)).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("move {} to {}: {e}", from.display(), to.display()),
            )
        })?;
        let moved: Vec<(u64, PathBuf)> = self
            .nodes
            .iter()
            .filter(|(_, n)| n.path.starts_with(&from))
            .map(|(&i, n)| (i, n.path.clone()))
            .collect();
        for (i, old) in moved {
            let rest = old.strip_prefix(&from).unwrap();
            let new = if rest.as_os_str().is_empty() {
                to.clone()
            } else {
                to.join(rest)
            };
            self.by_path.remove(&old);
            if let Some(stale) = self.by_path.insert(new.clone(), i) {
                if stale != i {
                    self.nodes.remove(&stale);
                }
            }
            self.nodes.get_mut(&i).unwrap().path = new;
        }
        Ok(())
    }

    /// The power goes off: from now on every operation fails.
    pub fn power_off(&mut self) {
        self.dead = true;
    }

    /// Rolls the backing directory back to what was durable, as a disk
    /// would come up after the cut. Call after [`Disk::power_off`].
    pub fn roll_back(&mut self, cut: Cut) -> io::Result<CutReport> {
        self.dead = true;
        self.handles.clear();
        let mut report = CutReport::default();
        let mut rng = match cut {
            Cut::Plain => 0,
            Cut::Torn(seed) => seed | 1,
        };
        let files = std::mem::take(&mut self.files);
        for (ino, u) in files {
            let Ok(path) = self.path(ino) else { continue };
            let Ok(file) = OpenOptions::new().write(true).open(&path) else {
                continue;
            };
            let len = file.metadata()?.len();
            report.files_rolled_back += 1;
            let mut keep = BTreeSet::new();
            if rng != 0 {
                for &page in &u.dirty {
                    rng ^= rng << 13;
                    rng ^= rng >> 7;
                    rng ^= rng << 17;
                    if rng & 1 == 1 && page * PAGE < len {
                        keep.insert(page);
                    }
                }
            }
            let size = keep
                .iter()
                .map(|&p| (p * PAGE + PAGE).min(len))
                .fold(u.durable_size, u64::max);
            for &page in &u.dirty {
                if keep.contains(&page) {
                    report.pages_kept += 1;
                    continue;
                }
                report.pages_lost += 1;
                let at = page * PAGE;
                if at >= size {
                    continue;
                }
                let n = (size - at).min(PAGE) as usize;
                match u.undo.get(&page) {
                    Some(old) => file.write_all_at(&old[..n], at)?,
                    None => file.write_all_at(&vec![0; n], at)?,
                }
            }
            file.set_len(size)?;
        }
        if self.strict {
            report.entries_undone = self.roll_back_dirs()?;
        }
        let _ = fs::remove_dir_all(self.root.join(GRAVEYARD));
        Ok(report)
    }

    /// Strict mode: puts every changed directory back to its synced entries.
    fn roll_back_dirs(&mut self) -> io::Result<usize> {
        let dirs = std::mem::take(&mut self.dirs);
        let mut undone = 0;
        fs::create_dir_all(self.root.join(GRAVEYARD))?;
        for (&dir, synced) in &dirs {
            let Ok(rel) = self.rel(dir) else { continue };
            let now: Vec<(OsString, u64)> = match fs::read_dir(self.abs(&rel)) {
                Ok(rd) => rd
                    .filter_map(|e| e.ok())
                    .map(|e| e.file_name())
                    .filter(|n| !(dir == ROOT && n == GRAVEYARD))
                    .map(|n| (n.clone(), self.ino_for(rel.join(&n))))
                    .collect(),
                Err(_) => continue,
            };
            for (name, ino) in now {
                if synced.get(&name) != Some(&ino) {
                    undone += 1;
                    self.move_node(ino, Path::new(GRAVEYARD).join(ino.to_string()))?;
                }
            }
        }
        for (&dir, synced) in &dirs {
            let Ok(rel) = self.rel(dir) else { continue };
            for (name, &ino) in synced {
                let to = rel.join(name);
                if self.rel(ino)? != to {
                    undone += 1;
                    self.move_node(ino, to)?;
                }
            }
        }
        Ok(undone)
    }
}
