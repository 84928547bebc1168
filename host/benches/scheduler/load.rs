//! The share of the machine's processor time that other processes used while a benchmark ran,
//! read from Linux's `/proc`, because their load skews wall-clock timings.

use std::fs;

/// Processor time counters at one instant, in clock ticks.
pub(super) struct CpuSample {
    /// Ticks all processors spent busy, summed over the machine.
    machine_busy: u64,
    /// Ticks all processors spent busy or idle.
    machine_total: u64,
    /// Ticks this process spent in user and kernel mode.
    own: u64,
}

impl CpuSample {
    /// Reads the counters now; `None` when `/proc` cannot be read or parsed.
    pub(super) fn now() -> Option<Self> {
        // The first line of /proc/stat: "cpu user nice system idle iowait irq softirq steal ..."
        let stat = fs::read_to_string("/proc/stat").ok()?;
        let ticks: Vec<u64> = stat
            .lines()
            .next()?
            .split_whitespace()
            .skip(1)
            .take(8)
            .map(|field| field.parse().ok())
            .collect::<Option<_>>()?;
        let [user, nice, system, idle, iowait, irq, softirq, steal] = ticks[..] else {
            return None;
        };

        // Fields 14 and 15 of /proc/self/stat are utime and stime. The command name in field 2
        // may contain spaces, so fields are counted after its closing parenthesis.
        let own_stat = fs::read_to_string("/proc/self/stat").ok()?;
        let after_name = &own_stat[own_stat.rfind(')')? + 1..];
        let mut fields = after_name.split_whitespace().skip(11);
        let utime: u64 = fields.next()?.parse().ok()?;
        let stime: u64 = fields.next()?.parse().ok()?;

        let machine_busy = user + nice + system + irq + softirq + steal;
        Some(Self {
            machine_busy,
            machine_total: machine_busy + idle + iowait,
            own: utime + stime,
        })
    }

    /// Returns the share, from 0 to 1, of the machine's processor time since `self` that other
    /// processes used; `None` when it cannot be read or no time has passed.
    pub(super) fn others_since(&self) -> Option<f64> {
        let now = Self::now()?;
        let total = now.machine_total.checked_sub(self.machine_total)?;
        let busy = now.machine_busy.checked_sub(self.machine_busy)?;
        let own = now.own.checked_sub(self.own)?;
        if total == 0 {
            return None;
        }
        // Tick counters are sampled, so this process may be charged slightly more than the
        // machine's busy time; the share then rounds to zero.
        Some(busy.saturating_sub(own) as f64 / total as f64)
    }
}

/// Runs `benchmark` and prints how much of the machine other processes used meanwhile.
pub(super) fn report_interference(benchmark: impl FnOnce()) {
    let before = CpuSample::now();
    benchmark();
    match before.as_ref().and_then(CpuSample::others_since) {
        Some(share) => println!(
            "other processes used {:.0}% of the machine's processor time meanwhile\n",
            share * 100.0
        ),
        None => println!("the processor time of other processes could not be read\n"),
    }
}
