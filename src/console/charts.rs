//! The console's charts, drawn with plotters' SVG backend into strings that the pages
//! inline. Labels come from the contracts' enums and our own text, never from input.

use plotters::prelude::*;

const WIDTH: u32 = 640;
const HEIGHT: u32 = 400;
const CURVE: RGBColor = RGBColor(31, 119, 180);
const GUIDE: RGBColor = RGBColor(160, 160, 160);
const MARK: RGBColor = RGBColor(214, 39, 40);

/// A Lorenz curve: share of customers (lowest value first) against share of value, the
/// line of equality, and the top shares marked as vertical lines.
pub fn lorenz(
    points: &[(f64, f64)],
    top_marks: &[(f64, f64)],
    gini: f64,
) -> Result<String, String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(|error| error.to_string())?;
        let mut chart = ChartBuilder::on(&root)
            .caption(format!("Value skew (Gini {gini:.2})"), ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(50)
            .build_cartesian_2d(0f64..1f64, 0f64..1f64)
            .map_err(|error| error.to_string())?;
        chart
            .configure_mesh()
            .x_desc("share of customers, lowest value first")
            .y_desc("share of value")
            .x_label_formatter(&|share| format!("{:.0}%", share * 100.0))
            .y_label_formatter(&|share| format!("{:.0}%", share * 100.0))
            .draw()
            .map_err(|error| error.to_string())?;
        chart
            .draw_series(LineSeries::new(
                [(0.0, 0.0), (1.0, 1.0)],
                GUIDE.stroke_width(1),
            ))
            .map_err(|error| error.to_string())?
            .label("equality")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], GUIDE));
        chart
            .draw_series(LineSeries::new(
                points.iter().copied(),
                CURVE.stroke_width(2),
            ))
            .map_err(|error| error.to_string())?
            .label("customers' value")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], CURVE));
        for (top_percent, value_share) in top_marks {
            let x = 1.0 - top_percent / 100.0;
            chart
                .draw_series(LineSeries::new([(x, 0.0), (x, 1.0)], MARK.stroke_width(1)))
                .map_err(|error| error.to_string())?;
            chart
                .draw_series([Text::new(
                    format!("top {top_percent}%: {:.0}% of value", value_share * 100.0),
                    (x - 0.3, 0.95 - top_percent / 100.0),
                    ("sans-serif", 13).into_font().color(&MARK),
                )])
                .map_err(|error| error.to_string())?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .border_style(GUIDE)
            .background_style(WHITE)
            .draw()
            .map_err(|error| error.to_string())?;
        root.present().map_err(|error| error.to_string())?;
    }
    Ok(svg)
}

/// Vertical bars, one per label; `as_percent` reads values as shares in [0, 1].
pub fn bars(
    title: &str,
    labels: &[String],
    values: &[f64],
    y_desc: &str,
    as_percent: bool,
) -> Result<String, String> {
    let highest = values.iter().copied().fold(0.0f64, f64::max);
    let top = if as_percent {
        highest.clamp(0.01, 1.0) * 1.15
    } else {
        highest.max(1.0) * 1.15
    };
    let count = u32::try_from(labels.len().max(1)).unwrap_or(u32::MAX);
    let format_value = |value: &f64| {
        if as_percent {
            format!("{:.0}%", value * 100.0)
        } else {
            format!("{value:.0}")
        }
    };
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(|error| error.to_string())?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d((0u32..count).into_segmented(), 0f64..top)
            .map_err(|error| error.to_string())?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(labels.len())
            .x_label_formatter(&|value| match value {
                SegmentValue::CenterOf(index) => {
                    labels.get(*index as usize).cloned().unwrap_or_default()
                }
                _ => String::new(),
            })
            .y_desc(y_desc)
            .y_label_formatter(&format_value)
            .draw()
            .map_err(|error| error.to_string())?;
        chart
            .draw_series(values.iter().zip(0u32..).map(|(value, index)| {
                let mut bar = Rectangle::new(
                    [
                        (SegmentValue::Exact(index), 0.0),
                        (SegmentValue::Exact(index + 1), *value),
                    ],
                    CURVE.filled(),
                );
                bar.set_margin(0, 0, 10, 10);
                bar
            }))
            .map_err(|error| error.to_string())?;
        chart
            .draw_series(values.iter().zip(0u32..).map(|(value, index)| {
                Text::new(
                    format_value(value),
                    (SegmentValue::CenterOf(index), value + top * 0.03),
                    ("sans-serif", 13).into_font(),
                )
            }))
            .map_err(|error| error.to_string())?;
        root.present().map_err(|error| error.to_string())?;
    }
    Ok(svg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lorenz_curve_is_an_svg_with_its_marks() {
        let points = [(0.0, 0.0), (0.5, 0.1), (0.8, 0.3), (0.98, 0.6), (1.0, 1.0)];
        let svg = lorenz(&points, &[(2.0, 0.4), (20.0, 0.7)], 0.55).unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..60.min(svg.len())]);
        assert!(svg.contains("Gini 0.55"));
        assert!(svg.contains("top 2%: 40% of value"));
        assert!(svg.contains("<polyline"));
    }

    #[test]
    fn bars_label_each_bar() {
        let labels = vec!["call center".to_owned(), "web".to_owned()];
        let svg = bars("Contacts", &labels, &[12.0, 30.0], "contacts", false).unwrap();
        assert!(svg.contains("call center") && svg.contains("web"));
        assert!(svg.contains("<rect"));
    }
}
