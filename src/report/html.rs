//! The report page: a self-contained HTML file (inline style, no scripts, no network) that
//! shows the figures beside it in the same folder, the findings and the table of runs.
//! Every string from the data (class names, sweep names, configuration values) is escaped
//! by maud.

use maud::{html, Markup, PreEscaped, DOCTYPE};

/// A table cell: text, text linking to a relative path, or a colour swatch.
#[derive(Debug, Clone)]
pub enum Cell {
    Text(String),
    Link(String, String),
    Swatch([u8; 3]),
}

/// A table with a header row.
#[derive(Debug, Clone, Default)]
pub struct Table {
    pub header: Vec<String>,
    pub rows: Vec<Vec<Cell>>,
    /// CSS class per row (e.g. `failed`), empty for none.
    pub row_classes: Vec<String>,
}

/// A figure beside the page: `<stem>.png` shown, `<stem>.svg` linked.
#[derive(Debug, Clone)]
pub struct FigureRef {
    pub stem: String,
    pub caption: String,
    /// True when only a PNG exists (example predictions).
    pub png_only: bool,
}

/// One section of the page.
#[derive(Debug, Clone)]
pub struct Section {
    pub id: String,
    pub heading: String,
    pub paragraphs: Vec<String>,
    pub figures: Vec<FigureRef>,
    pub tables: Vec<Table>,
}

/// Everything the page shows.
#[derive(Debug, Clone)]
pub struct Page {
    pub title: String,
    pub subtitle: String,
    /// The question the page answers first, its answer, and the mechanisms behind it.
    pub answer: Option<AnswerBlock>,
    pub verdict: Vec<String>,
    pub sections: Vec<Section>,
    /// The last line: which build wrote the page and which trained its runs.
    pub footer: String,
}

/// The question, its answer and the mechanisms, shown before everything else.
#[derive(Debug, Clone)]
pub struct AnswerBlock {
    pub question: String,
    pub answer: String,
    pub mechanisms: Vec<String>,
}

const STYLE: &str = r#"
body { font-family: "DejaVu Sans", Helvetica, Arial, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; color: #222; line-height: 1.45; }
h1 { font-size: 1.7em; margin-bottom: 0.2em; }
h2 { border-bottom: 1px solid #ccc; padding-bottom: 0.2em; margin-top: 2em; }
.subtitle { color: #555; }
.answer { background: #fbf7ef; border-left: 4px solid #d62728; padding: 0.6em 1em; }
.answer .reply { font-size: 1.15em; font-weight: bold; }
.verdict { background: #f4f7fb; border-left: 4px solid #1f77b4; padding: 0.6em 1em; }
figure { margin: 1em 0; }
figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { color: #444; font-size: 0.92em; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
th, td { border: 1px solid #ddd; padding: 0.25em 0.6em; text-align: left; }
th { background: #f0f0f0; }
tr.failed td, tr.diverged td, tr.interrupted td, tr.running td, tr.pending td { background: #fdecea; }
nav a { margin-right: 1em; }
footer { margin-top: 3em; border-top: 1px solid #ccc; color: #555; font-size: 0.9em; }
"#;

fn cell(c: &Cell) -> Markup {
    match c {
        Cell::Text(t) => html! { (t) },
        Cell::Link(t, href) => html! { a href=(href) { (t) } },
        Cell::Swatch([r, g, b]) => html! {
            span style=(format!("display:inline-block;width:1.2em;height:1em;background:rgb({r},{g},{b});border:1px solid #999")) {}
        },
    }
}

fn table(t: &Table) -> Markup {
    html! {
        table {
            thead { tr { @for h in &t.header { th { (h) } } } }
            tbody {
                @for (i, row) in t.rows.iter().enumerate() {
                    @let class = t.row_classes.get(i).map(String::as_str).unwrap_or("");
                    tr class=(class) { @for c in row { td { (cell(c)) } } }
                }
            }
        }
    }
}

fn figure(f: &FigureRef) -> Markup {
    let png = format!("{}.png", f.stem);
    let svg = format!("{}.svg", f.stem);
    html! {
        figure {
            img src=(png) alt=(f.caption);
            figcaption {
                (f.caption)
                @if !f.png_only { " " a href=(svg) { "(SVG)" } }
            }
        }
    }
}

/// Renders the page.
pub fn render(page: &Page) -> String {
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (page.title) }
                style { (PreEscaped(STYLE)) }
            }
            body {
                h1 { (page.title) }
                p.subtitle { (page.subtitle) }
                nav { @for s in &page.sections { a href=(format!("#{}", s.id)) { (s.heading) } } }
                @if let Some(a) = &page.answer {
                    h2 id="answer" { (a.question) }
                    div.answer {
                        p.reply { (a.answer) }
                        p { "Why it so often seems to, measured on this sweep:" }
                        ol { @for m in &a.mechanisms { li { (m) } } }
                    }
                }
                h2 id="verdict" { "Verdict" }
                div.verdict { @for p in &page.verdict { p { (p) } } }
                @for s in &page.sections {
                    h2 id=(s.id) { (s.heading) }
                    @for p in &s.paragraphs { p { (p) } }
                    @for f in &s.figures { (figure(f)) }
                    @for t in &s.tables { (table(t)) }
                }
                footer { p { (page.footer) } }
            }
        }
    };
    markup.into_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_from_the_data_are_escaped() {
        let page = Page {
            title: "sweep <script>alert(1)</script>".into(),
            subtitle: String::new(),
            answer: None,
            verdict: vec!["a & b".into()],
            sections: vec![Section {
                id: "runs".into(),
                heading: "Runs".into(),
                paragraphs: vec![],
                figures: vec![],
                tables: vec![Table {
                    header: vec!["class".into()],
                    rows: vec![vec![Cell::Text("<script>x</script>".into())]],
                    row_classes: vec![],
                }],
            }],
            footer: "built <here>".into(),
        };
        let html = render(&page);
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("&lt;script&gt;x&lt;/script&gt;"));
        assert!(html.contains("a &amp; b"));
        assert!(html.contains("built &lt;here&gt;"));
    }
}
