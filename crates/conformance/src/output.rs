//! Human and CI output: a terminal table and JUnit XML.

use std::fmt::Write as _;

use crate::report::{ActionReport, ActionResult, ReportResult, TestReport};

/// A plain-text table: script, tests passed/failed/errored/skipped, result; then totals.
pub fn summary_table(reports: &[TestReport]) -> String {
    let header = ["Script", "Passed", "Failed", "Errored", "Skipped", "Result"];
    let mut rows: Vec<[String; 6]> = Vec::new();
    let mut totals = [0usize; 4];
    for r in reports {
        let c = r.counts();
        totals[0] += c.passed;
        totals[1] += c.failed;
        totals[2] += c.errored;
        totals[3] += c.skipped;
        rows.push([
            r.name.clone(),
            c.passed.to_string(),
            c.failed.to_string(),
            c.errored.to_string(),
            c.skipped.to_string(),
            r.result.as_str().to_uppercase(),
        ]);
    }
    let mut width = header.map(|h| h.chars().count());
    for row in &rows {
        for (w, cell) in width.iter_mut().zip(row.iter()) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &[String]| -> String {
        let mut s = String::new();
        for (i, (cell, w)) in cells.iter().zip(width.iter()).enumerate() {
            if i > 0 {
                s.push_str(" | ");
            }
            let pad = w.saturating_sub(cell.chars().count());
            if i == 0 || i == 5 {
                s.push_str(cell);
                s.push_str(&" ".repeat(pad));
            } else {
                s.push_str(&" ".repeat(pad));
                s.push_str(cell);
            }
        }
        s.trim_end().to_string() + "\n"
    };
    let mut out = line(&header.map(String::from));
    let rule: Vec<String> = width.iter().map(|w| "-".repeat(*w)).collect();
    out.push_str(&rule.join("-+-"));
    out.push('\n');
    for row in &rows {
        out.push_str(&line(row));
    }
    let passed_scripts = reports
        .iter()
        .filter(|r| r.result == ReportResult::Pass)
        .count();
    let _ = writeln!(
        out,
        "{} script(s): {passed_scripts} passed; tests: {} passed, {} failed, {} errored, {} skipped",
        reports.len(),
        totals[0],
        totals[1],
        totals[2],
        totals[3]
    );
    for r in reports {
        if let Some(e) = &r.error {
            let _ = writeln!(out, "  {}: {}", r.name, e);
        }
        for t in &r.tests {
            if let Some(p) = t.first_problem() {
                let _ = writeln!(
                    out,
                    "  {} / {}: {} {}: {}",
                    r.name,
                    t.name,
                    p.result.as_str().to_uppercase(),
                    p.name,
                    p.message
                );
            }
        }
    }
    out
}

/// Escapes text for XML attributes and content; drops characters XML 1.0 forbids.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{fffe}' || c == '\u{ffff}' => {}
            c => out.push(c),
        }
    }
    out
}

fn problem_text(actions: &[ActionReport], wanted: ActionResult) -> String {
    actions
        .iter()
        .filter(|a| a.result == wanted)
        .map(|a| {
            let mut s = format!("{}: {}", a.name, a.message);
            if let Some(d) = &a.description
                && Some(d) != Some(&a.name)
            {
                s.push_str(&format!(" ({d})"));
            }
            s
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// One `<testcase>` for a list of actions; `None` result means "use the actions".
fn testcase(out: &mut String, suite: &str, name: &str, actions: &[ActionReport], skipped: bool) {
    let _ = write!(
        out,
        "    <testcase classname=\"{}\" name=\"{}\"",
        esc(suite),
        esc(name)
    );
    let first = |r: ActionResult| actions.iter().find(|a| a.result == r);
    if let Some(e) = first(ActionResult::Error) {
        let _ = write!(
            out,
            ">\n      <error message=\"{}\" type=\"error\">{}</error>\n    </testcase>\n",
            esc(&format!("{}: {}", e.name, e.message)),
            esc(&problem_text(actions, ActionResult::Error))
        );
    } else if let Some(f) = first(ActionResult::Fail) {
        let _ = write!(
            out,
            ">\n      <failure message=\"{}\" type=\"assert\">{}</failure>\n    </testcase>\n",
            esc(&format!("{}: {}", f.name, f.message)),
            esc(&problem_text(actions, ActionResult::Fail))
        );
    } else if skipped {
        let why = actions
            .first()
            .map(|a| a.message.clone())
            .unwrap_or_else(|| "not run".into());
        let _ = write!(
            out,
            ">\n      <skipped message=\"{}\"/>\n    </testcase>\n",
            esc(&why)
        );
    } else {
        out.push_str("/>\n");
    }
}

/// JUnit XML: one `<testsuite>` per script, one `<testcase>` per test (plus `setup` /
/// `teardown` test cases when those had problems, and `load` for unloadable scripts).
pub fn junit_xml(reports: &[TestReport]) -> String {
    let mut suites = String::new();
    let (mut all_tests, mut all_fail, mut all_err, mut all_skip) = (0, 0, 0, 0);
    for r in reports {
        let mut cases = String::new();
        let (mut tests, mut failures, mut errors, mut skipped) = (0, 0, 0, 0);
        let mut count = |res: ReportResult| {
            tests += 1;
            match res {
                ReportResult::Fail => failures += 1,
                ReportResult::Error => errors += 1,
                ReportResult::Pending => skipped += 1,
                ReportResult::Pass => {}
            }
        };
        if r.setup.is_empty()
            && r.tests.is_empty()
            && r.teardown.is_empty()
            && let Some(e) = &r.error
        {
            {
                count(ReportResult::Error);
                let _ = write!(
                    cases,
                    "    <testcase classname=\"{}\" name=\"load\">\n      <error message=\"{}\" type=\"error\"/>\n    </testcase>\n",
                    esc(&r.name),
                    esc(e)
                );
            }
        }
        let setup_res = crate::report::combine(&r.setup);
        if setup_res != ReportResult::Pass {
            count(setup_res);
            testcase(&mut cases, &r.name, "setup", &r.setup, false);
        }
        for t in &r.tests {
            count(t.result);
            testcase(
                &mut cases,
                &r.name,
                &t.name,
                &t.actions,
                t.result == ReportResult::Pending,
            );
        }
        let td_res = crate::report::combine(&r.teardown);
        if td_res != ReportResult::Pass {
            count(td_res);
            testcase(&mut cases, &r.name, "teardown", &r.teardown, false);
        }
        all_tests += tests;
        all_fail += failures;
        all_err += errors;
        all_skip += skipped;
        let _ = write!(
            suites,
            "  <testsuite name=\"{}\" tests=\"{tests}\" failures=\"{failures}\" errors=\"{errors}\" skipped=\"{skipped}\">\n{cases}  </testsuite>\n",
            esc(&r.name)
        );
    }
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"hms conformance\" tests=\"{all_tests}\" failures=\"{all_fail}\" errors=\"{all_err}\" skipped=\"{all_skip}\">\n{suites}</testsuites>\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes() {
        assert_eq!(esc("a<b>&\"'\u{1}"), "a&lt;b&gt;&amp;&quot;&apos;");
    }
}
