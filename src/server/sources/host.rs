//! Real metrics of the machine the server runs on, for the `host` dashboard, read with
//! `sysinfo`: CPU and memory use, load average, network throughput and disk usage, in total
//! and as labelled series: `cpu_core{core}`, `net_rx{device}` and `net_tx{device}` (B/s),
//! `disk_used{mount}` (each family one chart with a line per core, device or disk).

use super::Source;
use crate::protocol::{series::SeriesKey, Format, MetricDefinition, Metrics, Millis};
use crate::server::broker::Declaration;
use sysinfo::{Disks, Networks, System};

pub struct HostCollector {
    system: System,
    networks: Networks,
    disks: Disks,
    /// When the network counters were last read, to turn byte deltas into rates.
    last_read: Option<Millis>,
}

impl HostCollector {
    pub fn new() -> Self {
        let mut system = System::new();
        // CPU usage is a difference between two reads: prime the first.
        system.refresh_cpu_usage();
        HostCollector {
            system,
            networks: Networks::new_with_refreshed_list(),
            disks: Disks::new_with_refreshed_list(),
            last_read: None,
        }
    }
}

impl Default for HostCollector {
    fn default() -> Self {
        Self::new()
    }
}

/// A ratio rounded to what a person can read (0.01%): it keeps frames small.
fn ratio(value: f64) -> f64 {
    (value * 10_000.0).round() / 10_000.0
}

/// The key of `family` with one label.
fn labelled(family: &str, label: &str, value: &str) -> String {
    SeriesKey { family: family.to_owned(), labels: [(label.to_owned(), value.to_owned())].into() }.to_string()
}

/// A labelled series' definition: its family and labels read from its key.
fn series(key: String, label: String, unit: &str, format: Format) -> MetricDefinition {
    MetricDefinition { label, unit: unit.to_owned(), format, ..MetricDefinition::inferred(&key) }
}

impl HostCollector {
    /// Network interfaces worth showing: not the loopback.
    fn devices(&self) -> impl Iterator<Item = (&String, &sysinfo::NetworkData)> {
        self.networks.list().iter().filter(|(name, _)| name.as_str() != "lo")
    }

    fn fixed_disks(&self) -> impl Iterator<Item = &sysinfo::Disk> {
        // A mount point past a label value's 256 bytes is left out (it could not be a label).
        self.disks.list().iter().filter(|disk| {
            !disk.is_removable() && disk.total_space() > 0 && disk.mount_point().as_os_str().len() <= 256
        })
    }
}

impl Source for HostCollector {
    fn declaration(&self) -> Declaration {
        let mut definitions = vec![
            MetricDefinition::new("cpu", "CPU", "%", Format::Percent),
            MetricDefinition::new("memory", "Memory", "%", Format::Percent),
            MetricDefinition::new("load1", "Load average (1 min)", "", Format::Decimal),
            MetricDefinition::new("netRx", "Network in", "B/s", Format::Bytes),
            MetricDefinition::new("netTx", "Network out", "B/s", Format::Bytes),
            MetricDefinition::new("disk", "Disk used", "%", Format::Percent),
        ];
        for core in 0..self.system.cpus().len() {
            let key = labelled("cpu_core", "core", &core.to_string());
            definitions.push(series(key, format!("CPU core {core}"), "%", Format::Percent));
        }
        for (device, _) in self.devices() {
            for (family, direction) in [("net_rx", "in"), ("net_tx", "out")] {
                let key = labelled(family, "device", device);
                definitions.push(series(key, format!("Network {direction} {device}"), "B/s", Format::Bytes));
            }
        }
        for disk in self.fixed_disks() {
            let mount = disk.mount_point().to_string_lossy();
            let key = labelled("disk_used", "mount", &mount);
            definitions.push(series(key, format!("Disk used {mount}"), "%", Format::Percent));
        }
        Declaration {
            dashboard: "host".into(),
            title: format!("Host {}", System::host_name().unwrap_or_default()).trim().to_owned(),
            definitions,
        }
    }

    fn sample(&mut self, now: Millis) -> Option<Metrics> {
        self.system.refresh_cpu_usage();
        self.system.refresh_memory();
        self.networks.refresh(true);
        self.disks.refresh(true);

        let mut metrics = Metrics::new();
        metrics.insert("cpu".into(), ratio(f64::from(self.system.global_cpu_usage()) / 100.0));
        for (core, cpu) in self.system.cpus().iter().enumerate() {
            metrics.insert(labelled("cpu_core", "core", &core.to_string()), ratio(f64::from(cpu.cpu_usage()) / 100.0));
        }
        let total_memory = self.system.total_memory();
        if total_memory > 0 {
            let used = total_memory.saturating_sub(self.system.available_memory());
            metrics.insert("memory".into(), ratio(used as f64 / total_memory as f64));
        }
        metrics.insert("load1".into(), (System::load_average().one * 100.0).round() / 100.0);

        // `received()` counts bytes since the previous refresh.
        if let Some(last) = self.last_read {
            let seconds = ((now - last) as f64 / 1000.0).max(0.001);
            let (rx, tx) = self
                .networks
                .list()
                .values()
                .fold((0, 0), |(rx, tx), data| (rx + data.received(), tx + data.transmitted()));
            metrics.insert("netRx".into(), (rx as f64 / seconds).round());
            metrics.insert("netTx".into(), (tx as f64 / seconds).round());
            for (device, data) in self.devices() {
                metrics.insert(labelled("net_rx", "device", device), (data.received() as f64 / seconds).round());
                metrics.insert(labelled("net_tx", "device", device), (data.transmitted() as f64 / seconds).round());
            }
        }
        self.last_read = Some(now);

        let (total, available) = self
            .disks
            .list()
            .iter()
            .filter(|disk| !disk.is_removable())
            .fold((0u64, 0u64), |(t, a), disk| (t + disk.total_space(), a + disk.available_space()));
        if total > 0 {
            metrics.insert("disk".into(), ratio((total - available) as f64 / total as f64));
        }
        for disk in self.fixed_disks() {
            let used = disk.total_space().saturating_sub(disk.available_space()) as f64 / disk.total_space() as f64;
            metrics.insert(labelled("disk_used", "mount", &disk.mount_point().to_string_lossy()), ratio(used));
        }
        Some(metrics)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_machine() {
        let mut collector = HostCollector::new();
        let first = collector.sample(0).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(250));
        let second = collector.sample(250).unwrap();
        for name in ["cpu", "memory", "disk"] {
            let value = second[name];
            assert!((0.0..=1.0).contains(&value), "{name} = {value}");
        }
        assert!(second["memory"] > 0.0, "a running machine uses memory");
        assert!(second["load1"] >= 0.0);
        assert!(!first.contains_key("netRx"), "rates need two reads");
        assert!(second["netRx"] >= 0.0 && second["netTx"] >= 0.0);
        // Per core: labelled series of one family, each declared with its labels.
        let declared = collector.declaration().definitions;
        let core = declared.iter().find(|d| d.name == r#"cpu_core{core="0"}"#).expect("core 0 declared");
        assert_eq!((core.family.as_deref(), core.labels["core"].as_str()), (Some("cpu_core"), "0"));
        assert!((0.0..=1.0).contains(&second[r#"cpu_core{core="0"}"#]));
        for definition in &declared {
            assert!(crate::protocol::check_metric_name(&definition.name).is_ok(), "{}", definition.name);
        }
    }
}
