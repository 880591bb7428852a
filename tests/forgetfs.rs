//! Self-tests of forgetfs, the filesystem the power-loss tests cut: each
//! promise it makes is checked through the kernel, so a power-loss pass
//! means something.

#[path = "common/forgetfs/mod.rs"]
mod forgetfs;

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::Path;

use forgetfs::{mount, Cut, Mounted};

struct Bench {
    _dir: tempfile::TempDir,
    backing: std::path::PathBuf,
    mnt: std::path::PathBuf,
}

fn bench() -> Bench {
    let dir = tempfile::tempdir().unwrap();
    let backing = dir.path().join("disk");
    let mnt = dir.path().join("mnt");
    fs::create_dir(&backing).unwrap();
    fs::create_dir(&mnt).unwrap();
    Bench {
        _dir: dir,
        backing,
        mnt,
    }
}

/// Cuts the power and mounts again on what the disk kept.
fn cut(m: Mounted, how: Cut, strict: bool) -> Mounted {
    m.power_off();
    let (backing, mnt) = (m.backing.clone(), m.mnt.clone());
    m.restore(how);
    mount(&backing, &mnt, strict)
}

fn sync_dir(path: &Path) {
    File::open(path).unwrap().sync_all().unwrap();
}

#[test]
fn written_and_synced_survives_written_and_not_synced_vanishes() {
    let b = bench();
    let m = mount(&b.backing, &b.mnt, false);
    let mut f = File::create(b.mnt.join("a")).unwrap();
    f.write_all(b"durable").unwrap();
    f.sync_data().unwrap();
    f.write_all(b" and lost").unwrap();
    assert_eq!(
        fs::read(b.mnt.join("a")).unwrap(),
        b"durable and lost",
        "reads see unsynced writes"
    );
    let mut g = File::create(b.mnt.join("b")).unwrap();
    g.write_all(b"never synced").unwrap();
    drop((f, g));

    let m = cut(m, Cut::Plain, false);
    assert_eq!(fs::read(b.mnt.join("a")).unwrap(), b"durable");
    assert_eq!(
        fs::read(b.mnt.join("b")).unwrap(),
        b"",
        "not strict: the name survives, the content does not"
    );
    drop(m);
}

#[test]
fn an_overwrite_not_synced_rolls_back_to_the_synced_bytes() {
    let b = bench();
    let m = mount(&b.backing, &b.mnt, false);
    let f = File::create(b.mnt.join("a")).unwrap();
    f.write_all_at(&[1; 10000], 0).unwrap();
    f.sync_all().unwrap();
    f.write_all_at(&[2; 100], 5000).unwrap();
    f.set_len(6000).unwrap();
    drop(f);
    let m = cut(m, Cut::Plain, false);
    assert_eq!(fs::read(b.mnt.join("a")).unwrap(), vec![1; 10000]);
    drop(m);
}

#[test]
fn an_o_dsync_write_survives_on_its_own() {
    let b = bench();
    let m = mount(&b.backing, &b.mnt, false);
    let plain = File::create(b.mnt.join("meta")).unwrap();
    plain.write_all_at(&[0; 8192], 0).unwrap();
    plain.sync_all().unwrap();
    // Unsynced through the plain handle, in both pages.
    plain.write_all_at(b"lost", 100).unwrap();
    plain.write_all_at(b"lost", 4200).unwrap();
    let dsync = OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_DSYNC)
        .open(b.mnt.join("meta"))
        .unwrap();
    dsync.write_all_at(b"kept", 4100).unwrap();
    dsync.write_all_at(b"grown", 8192).unwrap();
    drop((plain, dsync));
    let m = cut(m, Cut::Plain, false);
    let mut want = vec![0; 8192 + 5];
    want[4100..4104].copy_from_slice(b"kept");
    want[8192..].copy_from_slice(b"grown");
    assert_eq!(fs::read(b.mnt.join("meta")).unwrap(), want);
    drop(m);
}

#[test]
fn strict_a_file_created_without_syncing_its_directory_vanishes() {
    let b = bench();
    let m = mount(&b.backing, &b.mnt, true);
    fs::create_dir(b.mnt.join("d")).unwrap();
    sync_dir(&b.mnt);
    let mut kept = File::create(b.mnt.join("d/kept")).unwrap();
    kept.write_all(b"k").unwrap();
    kept.sync_all().unwrap();
    sync_dir(&b.mnt.join("d"));
    let mut lost = File::create(b.mnt.join("d/lost")).unwrap();
    lost.write_all(b"content synced, name not").unwrap();
    lost.sync_all().unwrap();
    // A removal and a rename not synced either: both come back.
    fs::remove_file(b.mnt.join("d/kept")).unwrap();
    fs::create_dir(b.mnt.join("e")).unwrap();
    drop((kept, lost));

    let m = cut(m, Cut::Plain, true);
    let names = |p: &Path| {
        let mut v: Vec<_> = fs::read_dir(p)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        v.sort();
        v
    };
    assert_eq!(names(&b.mnt), ["d"]);
    assert_eq!(names(&b.mnt.join("d")), ["kept"]);
    assert_eq!(fs::read(b.mnt.join("d/kept")).unwrap(), b"k");

    // Not strict: the same creation keeps its name.
    drop(m);
    let m = mount(&b.backing, &b.mnt, false);
    File::create(b.mnt.join("d/named")).unwrap();
    let m = cut(m, Cut::Plain, false);
    assert_eq!(names(&b.mnt.join("d")), ["kept", "named"]);
    drop(m);
}

#[test]
fn torn_mode_leaves_only_whole_pages() {
    let b = bench();
    let pages = 64u64;
    let mut some_kept = false;
    let mut some_lost = false;
    for seed in 1..=6u64 {
        let m = mount(&b.backing, &b.mnt, false);
        let f = File::create(b.mnt.join("t")).unwrap();
        f.write_all_at(&vec![0xAA; (pages * 4096) as usize], 0)
            .unwrap();
        f.sync_all().unwrap();
        // Unsynced writes of 6000 bytes, straddling page boundaries.
        let mut want = vec![0xAA; (pages * 4096) as usize];
        for (i, at) in (0..want.len()).step_by(6000).enumerate() {
            let end = (at + 6000).min(want.len());
            want[at..end].fill(i as u8 + 1);
            f.write_all_at(&want[at..end], at as u64).unwrap();
        }
        drop(f);
        let m = cut(
            m,
            Cut::Torn(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15)),
            false,
        );
        let data = fs::read(b.mnt.join("t")).unwrap();
        assert_eq!(data.len() as u64, pages * 4096);
        for (p, (page, new)) in data.chunks(4096).zip(want.chunks(4096)).enumerate() {
            let old = page.iter().all(|&x| x == 0xAA);
            assert!(
                old || page == new,
                "seed {seed}: page {p} is neither wholly old nor wholly new"
            );
            some_kept |= !old;
            some_lost |= old;
        }
        drop(m);
    }
    assert!(
        some_kept && some_lost,
        "torn cuts keep some pages and lose others"
    );
}

#[test]
fn after_the_power_goes_off_nothing_more_is_written() {
    let b = bench();
    let m = mount(&b.backing, &b.mnt, false);
    let f = File::create(b.mnt.join("a")).unwrap();
    f.write_all_at(b"before", 0).unwrap();
    f.sync_all().unwrap();
    m.power_off();
    let err = f.write_all_at(b"after", 0).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EIO), "{err}");
    assert!(f.sync_all().is_err());
    drop(f);
    let (backing, mnt) = (m.backing.clone(), m.mnt.clone());
    m.restore(Cut::Plain);
    let m = mount(&backing, &mnt, false);
    assert_eq!(fs::read(b.mnt.join("a")).unwrap(), b"before");
    drop(m);
}
