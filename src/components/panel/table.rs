//! A table panel: a row per series with its current value, its labels as columns; a column's
//! header sorts by it (again: the other way).

use crate::client::{live_edge::LiveEdge, panel_data::PanelData, state::DashboardState, view::ViewState};
use crate::model::format::Reading;
use leptos::prelude::*;
use std::collections::BTreeMap;

/// The column sorted by (`None`: the value) and whether descending.
#[derive(Clone, Debug, Default, PartialEq)]
struct Sort {
    column: Option<String>,
    descending: bool,
}

/// A row: the series' key, its labels, its value.
type TableRow = (String, BTreeMap<String, String>, Option<f64>);

fn sorted(mut rows: Vec<TableRow>, sort: &Sort) -> Vec<TableRow> {
    crate::model::sort::sort_by(&mut rows, |a, b| {
        let order = match &sort.column {
            Some(column) => a.1.get(column).cmp(&b.1.get(column)),
            None => a.2.unwrap_or(f64::NEG_INFINITY).total_cmp(&b.2.unwrap_or(f64::NEG_INFINITY)),
        };
        let order = order.then_with(|| a.0.cmp(&b.0));
        if sort.descending {
            order.reverse()
        } else {
            order
        }
    });
    rows
}

#[component]
pub fn TableBody(data: PanelData, reading: Signal<Reading>) -> impl IntoView {
    let state = expect_context::<DashboardState>();
    let view = expect_context::<ViewState>();
    let edge = expect_context::<LiveEdge>();
    let sort = RwSignal::new(Sort { column: None, descending: true });
    let rows = Memo::new(move |_| {
        data.track();
        let (from, to) = view.shown_untracked(state, edge);
        let rows: Vec<TableRow> = data
            .lines(from, to)
            .into_iter()
            .map(|line| {
                let value = line.points.last().map(|p| p.1);
                let labels = if line.labels.is_empty() {
                    BTreeMap::from([("series".to_owned(), line.legend)])
                } else {
                    line.labels
                };
                (line.key, labels, value)
            })
            .collect();
        sorted(rows, &sort.get())
    });
    let columns = Memo::new(move |_| {
        let mut names: Vec<String> = rows.with(|rows| rows.iter().flat_map(|row| row.1.keys().cloned()).collect());
        crate::model::sort::sort_by(&mut names, Ord::cmp);
        names.dedup();
        names
    });
    let header = move |column: Option<String>, text: String| {
        let pressed = {
            let column = column.clone();
            move || {
                sort.with(|sort| match (sort.column == column, sort.descending) {
                    (false, _) => "none",
                    (true, true) => "descending",
                    (true, false) => "ascending",
                })
            }
        };
        view! {
            <th scope="col" aria-sort=pressed>
                <button
                    type="button"
                    on:click=move |_| {
                        let column = column.clone();
                        sort.update(|sort| {
                            *sort = Sort { descending: sort.column != column || !sort.descending, column };
                        })
                    }
                >
                    {text}
                </button>
            </th>
        }
    };
    view! {
        <div class="table-scroll">
            <table class="panel-table" data-testid="panel-table">
                <thead>
                    <tr>
                        {move || columns.get().into_iter().map(|c| header(Some(c.clone()), c)).collect_view()}
                        {header(None, "value".into())}
                    </tr>
                </thead>
                <tbody>
                    {move || {
                        let columns = columns.get();
                        let reading = reading.get();
                        rows.get()
                            .into_iter()
                            .map(|(key, labels, value)| {
                                let cells = columns.iter().map(|c| view! { <td>{labels.get(c).cloned().unwrap_or_default()}</td> }).collect_view();
                                view! {
                                    <tr data-series=key>
                                        {cells}
                                        <td class="number">{value.map_or_else(|| "–".to_owned(), |v| reading.show(v))}</td>
                                    </tr>
                                }
                            })
                            .collect_view()
                    }}
                </tbody>
            </table>
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_sort_by_value_or_by_a_label_either_way() {
        let row = |key: &str, host: &str, value| {
            (key.to_owned(), BTreeMap::from([("host".to_owned(), host.to_owned())]), Some(value))
        };
        let rows = vec![row("a", "web-2", 1.0), row("b", "web-1", 3.0), row("c", "web-3", 2.0)];
        let keys = |rows: Vec<TableRow>| rows.into_iter().map(|r| r.0).collect::<Vec<_>>();
        assert_eq!(keys(sorted(rows.clone(), &Sort { column: None, descending: true })), ["b", "c", "a"]);
        assert_eq!(
            keys(sorted(rows.clone(), &Sort { column: Some("host".into()), descending: false })),
            ["b", "a", "c"]
        );
    }
}
