//! What one durable commit costs on this disk, by the shape of its writes.
//!
//! A new lead is acknowledged only after LMDB's commit: its dirty 4 KiB
//! pages are written (sorted, contiguous runs coalesced), the data file is
//! `fdatasync`ed, then the meta page is written with `O_DSYNC`. The writer
//! can make at most one such commit at a time, so the disk's answer to these
//! shapes bounds new leads per second. The file is written in full first, so
//! every write overwrites allocated blocks, as LMDB's reuse of free pages
//! mostly does.
//!
//! `cargo bench --bench disk_sync` (the file goes in `DATAPORT_BENCH_DIR`,
//! else `target/`: put it on the disk the data dir will use).

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};

const PAGE: u64 = 4096;
const FILE_BYTES: u64 = 256 << 20;

/// A 256 MiB file written in full and synced, and a page of data.
struct Scratch {
    _dir: tempfile::TempDir,
    file: File,
    page: Vec<u8>,
    /// xorshift state for the scattered offsets (any spread will do).
    rng: u64,
}

impl Scratch {
    fn new() -> Scratch {
        let base = std::env::var_os("DATAPORT_BENCH_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/target")));
        std::fs::create_dir_all(&base).expect("bench dir");
        let dir = tempfile::tempdir_in(&base).expect("temp dir");
        let file = File::options()
            .read(true)
            .write(true)
            .create_new(true)
            .open(dir.path().join("sync.bin"))
            .expect("scratch file");
        let chunk = vec![0u8; 1 << 20];
        for i in 0..FILE_BYTES / chunk.len() as u64 {
            file.write_all_at(&chunk, i * chunk.len() as u64)
                .expect("fill");
        }
        file.sync_all().expect("sync");
        Scratch {
            _dir: dir,
            file,
            page: vec![0xa5; PAGE as usize],
            rng: 0x9e37_79b9_7f4a_7c15,
        }
    }

    fn next(&mut self) -> u64 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        self.rng
    }

    /// Writes `runs` runs of `pages_per_run` contiguous pages at sorted
    /// offsets within `span` bytes, then `fdatasync`s.
    fn commit(&mut self, runs: u64, pages_per_run: u64, span: u64) {
        let base = self.next() % (FILE_BYTES - span) / PAGE * PAGE;
        let mut starts: Vec<u64> = (0..runs)
            .map(|_| self.next() % (span / PAGE - pages_per_run) * PAGE)
            .collect();
        starts.sort_unstable();
        for start in starts {
            for p in 0..pages_per_run {
                self.file
                    .write_all_at(&self.page, base + start + p * PAGE)
                    .expect("write");
            }
        }
        self.file.sync_data().expect("fdatasync");
    }
}

fn shapes(c: &mut Criterion) {
    let mut s = Scratch::new();
    let mut g = c.benchmark_group("disk_sync");
    g.sample_size(30).measurement_time(Duration::from_secs(4));
    g.bench_function("1 page", |b| b.iter(|| s.commit(1, 1, 1 << 20)));
    g.bench_function("64 pages contiguous", |b| {
        b.iter(|| s.commit(1, 64, 1 << 20))
    });
    // The shape of an LMDB commit of ~30 leads at 64 connections: about 30
    // runs of one to three pages within the file's last few MiB.
    g.bench_function("64 pages in 30 runs within 8 MiB", |b| {
        b.iter(|| s.commit(30, 2, 8 << 20))
    });
    g.bench_function("64 pages in 30 runs within 200 MiB", |b| {
        b.iter(|| s.commit(30, 2, 200 << 20))
    });
    g.bench_function("256 pages contiguous", |b| {
        b.iter(|| s.commit(1, 256, 2 << 20))
    });
    g.finish();
}

criterion_group!(benches, shapes);
criterion_main!(benches);
