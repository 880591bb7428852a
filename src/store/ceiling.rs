//! Measurement-only switches that take one part of the storage out, so a
//! benchmark can show what the rest costs (`benches/compare.sh --ceiling`): what new
//! leads would reach if the acknowledgement waited for no flush, or if a
//! lead wrote nothing, and whether a flood's tail latency is the writer's.
//!
//! They exist only in a build with the `ceiling` cargo feature, which is
//! never the default: there, `DATAPORT_CEILING` names the switches
//! (`nosync`, `noapply`, `nolog`, comma-separated) and the server logs a
//! warning at start. In every other build [`switches`] is a constant with
//! all of them off, so the branches on it compile away.

/// Which parts of the storage a `ceiling` build leaves out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Switches {
    /// LMDB opened with `MDB_NOSYNC`: commits reach the page cache only,
    /// so a 000 no longer means flushed (and a power cut can corrupt the
    /// file).
    pub no_sync: bool,
    /// A new lead's job is answered 000 without being applied: nothing of
    /// the lead is stored (its usage entry still is).
    pub no_apply: bool,
    /// A duplicate's usage and automation entries are dropped by the
    /// writer instead of written.
    pub no_log: bool,
}

impl Switches {
    pub const OFF: Switches = Switches {
        no_sync: false,
        no_apply: false,
        no_log: false,
    };

    /// Reads a comma-separated list such as `nosync,nolog`; an unknown
    /// name is an error, so a typo cannot measure the default by mistake.
    pub fn parse(list: &str) -> Result<Switches, String> {
        let mut s = Switches::OFF;
        for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            match name {
                "nosync" => s.no_sync = true,
                "noapply" => s.no_apply = true,
                "nolog" => s.no_log = true,
                other => return Err(format!("unknown ceiling switch {other:?}")),
            }
        }
        Ok(s)
    }

    pub fn any(self) -> bool {
        self != Switches::OFF
    }
}

/// The switches of this process: read once from `DATAPORT_CEILING`.
#[cfg(feature = "ceiling")]
pub fn switches() -> Switches {
    static SWITCHES: std::sync::OnceLock<Switches> = std::sync::OnceLock::new();
    *SWITCHES.get_or_init(|| {
        let list = std::env::var("DATAPORT_CEILING").unwrap_or_default();
        Switches::parse(&list).unwrap_or_else(|e| {
            eprintln!("DATAPORT_CEILING: {e}");
            std::process::exit(2)
        })
    })
}

/// The switches of this process: all off (no `ceiling` feature).
#[cfg(not(feature = "ceiling"))]
pub const fn switches() -> Switches {
    Switches::OFF
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_and_refuses_unknown_ones() {
        assert_eq!(Switches::parse("").unwrap(), Switches::OFF);
        let s = Switches::parse("nosync, nolog").unwrap();
        assert!(s.no_sync && s.no_log && !s.no_apply && s.any());
        assert!(Switches::parse("noapply").unwrap().no_apply);
        assert!(Switches::parse("no_sync").is_err());
    }
}
