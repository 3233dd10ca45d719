//! Text and Markdown renderings of a [`Diff`].

use super::{AccessChange, Diff};

fn place(c: &AccessChange) -> String {
    let mut s = if c.namespace == "*" {
        "every namespace".to_string()
    } else {
        c.namespace.clone()
    };
    if let Some(api) = &c.api {
        s.push_str(&format!(" for api {api}"));
    }
    s
}

fn counts(d: &Diff) -> (usize, usize) {
    let gained = d.access.iter().filter(|c| c.change == "gained").count();
    (gained, d.access.len() - gained)
}

/// `+ user:bob@example.com gains delete in alice (via kubeflow-edit)`, one line per subject,
/// namespace and API scope; then other changes.
pub fn text(d: &Diff) -> String {
    if d.is_empty() {
        return "no changes\n".into();
    }
    let mut out = String::new();
    let (gained, lost) = counts(d);
    if d.access.is_empty() {
        out.push_str("no access changes\n");
    } else {
        out.push_str(&format!("access changes: {gained} gained, {lost} lost\n"));
    }
    for c in &d.access {
        let (sign, verb) = if c.change == "gained" {
            ('+', "gains")
        } else {
            ('-', "loses")
        };
        out.push_str(&format!(
            "{sign} {} {verb} {} in {} (via {})\n",
            c.subject,
            c.actions.join(", "),
            place(c),
            c.via.join(", ")
        ));
    }
    if !d.other.is_empty() {
        out.push_str("\nother changes:\n");
        for o in &d.other {
            out.push_str(&format!("  {o}\n"));
        }
    }
    out
}

fn cell(s: &str) -> String {
    s.replace('|', "\\|")
}

/// A Markdown section for a pull-request comment.
pub fn markdown(d: &Diff) -> String {
    let mut out = String::from("### Gatehouse policy diff\n\n");
    if d.is_empty() {
        out.push_str("No access changes.\n");
        return out;
    }
    let (gained, lost) = counts(d);
    if d.access.is_empty() {
        out.push_str("No access changes.\n");
    } else {
        out.push_str(&format!("**Access: {gained} gained, {lost} lost**\n\n"));
        out.push_str("| change | subject | actions | where | via |\n");
        out.push_str("|---|---|---|---|---|\n");
        for c in &d.access {
            let change = if c.change == "gained" {
                "+ gains"
            } else {
                "- loses"
            };
            out.push_str(&format!(
                "| {change} | `{}` | {} | {} | {} |\n",
                cell(&c.subject),
                cell(&c.actions.join(", ")),
                cell(&place(c)),
                cell(&c.via.join(", "))
            ));
        }
    }
    if !d.other.is_empty() {
        out.push_str("\n**Other changes**\n\n");
        for o in &d.other {
            out.push_str(&format!("- {o}\n"));
        }
    }
    out
}
