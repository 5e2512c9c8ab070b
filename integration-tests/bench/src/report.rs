//! Collects the measurements of every round and turns them into tables, a verdict on the
//! performance budget, and a chart.
use std::fmt::Write as _;

use crate::servers::ServerKind;

/// What a number measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Metric {
    /// Its name in the table, e.g. `deliveries/s`.
    pub name: &'static str,
    /// Whether a larger value is better (for the ratio's reading).
    pub higher_is_better: bool,
}

/// Deliveries per second of the fan-out.
pub const DELIVERIES_PER_SEC: Metric = Metric {
    name: "deliveries/s",
    higher_is_better: true,
};
/// Round trips per second.
pub const ROUND_TRIPS_PER_SEC: Metric = Metric {
    name: "round trips/s",
    higher_is_better: true,
};
/// Median round trip, in milliseconds.
pub const P50_MS: Metric = Metric {
    name: "p50 ms",
    higher_is_better: false,
};
/// 99th percentile round trip, in milliseconds.
pub const P99_MS: Metric = Metric {
    name: "p99 ms",
    higher_is_better: false,
};
/// Server memory per idle connection, in KB (1000 bytes).
pub const KB_PER_CONNECTION: Metric = Metric {
    name: "KB per connection",
    higher_is_better: false,
};
/// Connects per second (namespace CONNECT acks).
pub const CONNECTS_PER_SEC: Metric = Metric {
    name: "connects/s",
    higher_is_better: true,
};

/// One table row: a metric of a scenario, with the values of every round per server.
#[derive(Debug, Clone)]
struct Row {
    scenario: String,
    metric: Metric,
    values: Vec<(ServerKind, f64)>,
}

/// What must arrive and what did, per scenario and server, over every round.
#[derive(Debug, Clone)]
struct Accounting {
    scenario: String,
    server: ServerKind,
    received: u64,
    expected: u64,
}

/// Every measurement of a run.
#[derive(Debug, Clone, Default)]
pub struct Report {
    rows: Vec<Row>,
    accounting: Vec<Accounting>,
    failures: Vec<String>,
}

/// The median of `values` (the mean of the middle two for an even count).
pub fn median(values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    Some(if v.len().is_multiple_of(2) {
        (v[mid - 1] + v[mid]) / 2.0
    } else {
        v[mid]
    })
}

/// A number with a k/M suffix and three significant digits.
pub fn human(value: f64) -> String {
    let abs = value.abs();
    if abs >= 1e6 {
        format!("{:.2} M", value / 1e6)
    } else if abs >= 1e4 {
        format!("{:.1} k", value / 1e3)
    } else if abs >= 1e3 {
        format!("{:.2} k", value / 1e3)
    } else if abs >= 100.0 {
        format!("{value:.0}")
    } else if abs >= 10.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.2}")
    }
}

impl Report {
    /// Records one round's `value` of `metric` in `scenario` for `server`.
    pub fn record(&mut self, scenario: &str, metric: Metric, server: ServerKind, value: f64) {
        let index = match self
            .rows
            .iter()
            .position(|r| r.scenario == scenario && r.metric == metric)
        {
            Some(i) => i,
            None => {
                self.rows.push(Row {
                    scenario: scenario.to_owned(),
                    metric,
                    values: Vec::new(),
                });
                self.rows.len() - 1
            }
        };
        self.rows[index].values.push((server, value));
    }

    /// Adds one round's delivered and expected message counts.
    pub fn account(&mut self, scenario: &str, server: ServerKind, received: u64, expected: u64) {
        match self
            .accounting
            .iter_mut()
            .find(|a| a.scenario == scenario && a.server == server)
        {
            Some(a) => {
                a.received += received;
                a.expected += expected;
            }
            None => self.accounting.push(Accounting {
                scenario: scenario.to_owned(),
                server,
                received,
                expected,
            }),
        }
    }

    /// Records a round that could not be measured.
    pub fn fail(&mut self, scenario: &str, server: ServerKind, round: usize, error: &str) {
        self.failures.push(format!(
            "{scenario}, {server}, round {}: {error}",
            round + 1
        ));
    }

    /// Rounds that failed, described.
    pub fn failures(&self) -> &[String] {
        &self.failures
    }

    /// Whether every expected delivery arrived, in every scenario that counts them.
    pub fn all_delivered(&self) -> bool {
        self.accounting.iter().all(|a| a.received == a.expected)
    }

    /// The values of `metric` in `scenario` for `server`, one per round.
    pub fn values(&self, scenario: &str, metric: Metric, server: ServerKind) -> Vec<f64> {
        self.rows
            .iter()
            .filter(|r| r.scenario == scenario && r.metric == metric)
            .flat_map(|r| r.values.iter())
            .filter(|(s, _)| *s == server)
            .map(|(_, v)| *v)
            .collect()
    }

    /// The median of [`values`](Self::values).
    pub fn median(&self, scenario: &str, metric: Metric, server: ServerKind) -> Option<f64> {
        median(&self.values(scenario, metric, server))
    }

    /// The scenarios in the order they were first recorded.
    pub fn scenarios(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for row in &self.rows {
            if !out.contains(&row.scenario) {
                out.push(row.scenario.clone());
            }
        }
        out
    }

    /// The results as a markdown table: a column per server with the median and the spread
    /// (min–max) over rounds, and switchboard's median relative to socketioxide's.
    pub fn markdown_table(&self, servers: &[ServerKind]) -> String {
        let mut out = String::from("| scenario | metric |");
        for s in servers {
            let _ = write!(out, " {} |", s.title());
        }
        out.push_str(" switchboard ÷ socketioxide |\n|---|---|");
        for _ in servers {
            out.push_str("---:|");
        }
        out.push_str("---:|\n");
        for row in &self.rows {
            let _ = write!(out, "| {} | {} |", row.scenario, row.metric.name);
            for &s in servers {
                let values: Vec<f64> = row
                    .values
                    .iter()
                    .filter(|(k, _)| *k == s)
                    .map(|(_, v)| *v)
                    .collect();
                match median(&values) {
                    Some(m) if values.len() > 1 => {
                        let min = values.iter().copied().fold(f64::INFINITY, f64::min);
                        let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                        let _ = write!(out, " **{}** ({}–{}) |", human(m), human(min), human(max));
                    }
                    Some(m) => {
                        let _ = write!(out, " **{}** |", human(m));
                    }
                    None => out.push_str(" – |"),
                }
            }
            let ratio = self.ratio(&row.scenario, row.metric);
            match ratio {
                Some(r) => {
                    let _ = write!(out, " {r:.2}× |");
                }
                None => out.push_str(" – |"),
            }
            out.push('\n');
        }
        if !self.accounting.is_empty() {
            out.push_str("\nDeliveries counted (received / expected, all rounds):\n\n");
            for a in &self.accounting {
                let mark = if a.received == a.expected {
                    "all"
                } else {
                    "**MISSING**"
                };
                let _ = writeln!(
                    out,
                    "- {}, {}: {} / {} ({mark})",
                    a.scenario,
                    a.server.title(),
                    a.received,
                    a.expected
                );
            }
        }
        if !self.failures.is_empty() {
            out.push_str("\nRounds that failed:\n\n");
            for f in &self.failures {
                let _ = writeln!(out, "- {f}");
            }
        }
        out
    }

    /// switchboard's median divided by socketioxide's, for one row.
    pub fn ratio(&self, scenario: &str, metric: Metric) -> Option<f64> {
        let sb = self.median(scenario, metric, ServerKind::Switchboard)?;
        let sio = self.median(scenario, metric, ServerKind::Socketioxide)?;
        (sio != 0.0).then(|| sb / sio)
    }

    /// The budget of issue 6, checked against the medians: one line per clause, each starting
    /// with `PASS`, `MISS` or `n/a`.
    pub fn budget(&self) -> Vec<String> {
        let mut lines = Vec::new();
        let mut check = |what: String, ok: Option<bool>| {
            let mark = match ok {
                Some(true) => "PASS",
                Some(false) => "MISS",
                None => "n/a ",
            };
            lines.push(format!("{mark} {what}"));
        };
        for scenario in self.scenarios() {
            if let Some(r) = self.ratio(&scenario, DELIVERIES_PER_SEC) {
                check(
                    format!("{scenario}: switchboard {r:.2}× socketioxide (budget ≥ 0.95×)"),
                    Some(r >= 0.95),
                );
            }
            if let Some(r) = self.ratio(&scenario, ROUND_TRIPS_PER_SEC) {
                check(
                    format!("{scenario}: switchboard {r:.2}× socketioxide (budget ≥ 0.90×)"),
                    Some(r >= 0.90),
                );
            }
            if let (Some(sb), Some(sio)) = (
                self.median(&scenario, KB_PER_CONNECTION, ServerKind::Switchboard),
                self.median(&scenario, KB_PER_CONNECTION, ServerKind::Socketioxide),
            ) {
                let diff = sb - sio;
                check(
                    format!(
                        "{scenario}: switchboard {sb:.1} KB vs socketioxide {sio:.1} KB per connection, {diff:+.1} KB (budget ≤ +1 KB)"
                    ),
                    Some(diff <= 1.0),
                );
            }
        }
        if lines.is_empty() {
            lines
                .push("n/a  budget: needs both switchboard and socketioxide in the run".to_owned());
        }
        lines
    }

    /// A bar chart of the headline medians (fan-out, round trips, memory per idle connection
    /// at the largest size), one panel each, one bar per server with its min–max range, as a
    /// standalone SVG (no fonts or libraries needed to produce it).
    pub fn svg_chart(&self, servers: &[ServerKind]) -> String {
        let mut panels: Vec<(String, String, Metric)> = Vec::new();
        for scenario in self.scenarios() {
            for metric in [DELIVERIES_PER_SEC, ROUND_TRIPS_PER_SEC] {
                if self
                    .rows
                    .iter()
                    .any(|r| r.scenario == scenario && r.metric == metric)
                {
                    panels.push((
                        format!("{scenario}: {} (higher is better)", metric.name),
                        scenario.clone(),
                        metric,
                    ));
                }
            }
        }
        if let Some(last_idle) = self.scenarios().into_iter().rfind(|s| {
            self.rows
                .iter()
                .any(|r| r.scenario == *s && r.metric == KB_PER_CONNECTION)
        }) {
            panels.push((
                format!("{last_idle}: KB per connection (lower is better)"),
                last_idle,
                KB_PER_CONNECTION,
            ));
        }
        let (panel_w, panel_h, top, bottom) = (380.0, 300.0, 50.0, 60.0);
        let width = panel_w * panels.len().max(1) as f64;
        let height = panel_h + top + bottom;
        let colors = ["#2b6cb0", "#dd6b20", "#38a169", "#718096"];
        let mut svg = format!(
            r##"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="#ffffff"/>
"##
        );
        for (p, (title, scenario, metric)) in panels.iter().enumerate() {
            let x0 = p as f64 * panel_w;
            let _ = writeln!(
                svg,
                r##"<text x="{}" y="20" text-anchor="middle" font-weight="bold" font-size="11">{}</text>"##,
                x0 + panel_w / 2.0,
                escape(title)
            );
            let stats: Vec<(ServerKind, f64, f64, f64)> = servers
                .iter()
                .filter_map(|&s| {
                    let v = self.values(scenario, *metric, s);
                    let m = median(&v)?;
                    let min = v.iter().copied().fold(f64::INFINITY, f64::min);
                    let max = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                    Some((s, m, min, max))
                })
                .collect();
            let top_value = stats.iter().map(|s| s.3).fold(0.0_f64, f64::max).max(1e-9);
            let n = stats.len().max(1) as f64;
            let slot = (panel_w - 40.0) / n;
            let base_y = top + panel_h;
            let _ = writeln!(
                svg,
                r##"<line x1="{}" y1="{base_y}" x2="{}" y2="{base_y}" stroke="#333"/>"##,
                x0 + 20.0,
                x0 + panel_w - 20.0
            );
            for (i, (server, m, min, max)) in stats.iter().enumerate() {
                let color = colors[ServerKind::ALL
                    .iter()
                    .position(|k| k == server)
                    .unwrap_or(0)
                    % colors.len()];
                let bx = x0 + 20.0 + slot * i as f64 + slot * 0.15;
                let bw = slot * 0.7;
                let h = m / top_value * (panel_h - 20.0);
                let _ = writeln!(
                    svg,
                    r##"<rect x="{bx:.1}" y="{:.1}" width="{bw:.1}" height="{h:.1}" fill="{color}"/>"##,
                    base_y - h
                );
                let cx = bx + bw / 2.0;
                let y_min = base_y - min / top_value * (panel_h - 20.0);
                let y_max = base_y - max / top_value * (panel_h - 20.0);
                let _ = writeln!(
                    svg,
                    r##"<line x1="{cx:.1}" y1="{y_min:.1}" x2="{cx:.1}" y2="{y_max:.1}" stroke="#000"/>"##
                );
                let _ = writeln!(
                    svg,
                    r##"<text x="{cx:.1}" y="{:.1}" text-anchor="middle">{}</text>"##,
                    y_max - 6.0,
                    escape(&human(*m))
                );
                let _ = writeln!(
                    svg,
                    r##"<text x="{cx:.1}" y="{:.1}" text-anchor="middle">{}</text>"##,
                    base_y + 16.0,
                    server.name()
                );
            }
        }
        let _ = writeln!(
            svg,
            r##"<text x="10" y="{:.1}" fill="#555">bars: median over rounds; lines: min–max</text>"##,
            height - 12.0
        );
        svg.push_str("</svg>\n");
        svg
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
