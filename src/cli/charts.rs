//! The pictures of `idic report ... --svg FILE`: the value skew (Lorenz curve), the
//! channel report and the learning curve, drawn with plotters' SVG backend from the
//! same responses the tables print. Each chart names what it marks in text elements
//! (`top 2%`, `tier A`, `Gini`, ...) so that a reader without the picture, and a test,
//! can find them.

use std::error::Error;
use std::path::Path;

use idic_proto::v1 as pb;
use plotters::coord::Shift;
use plotters::prelude::*;

use super::labels::{channel_name, cost_per_contact, tier_name};
use super::output::time_text;

const SIZE: (u32, u32) = (960, 640);
const TITLE: (&str, u32) = ("sans-serif", 26);
const LABEL: (&str, u32) = ("sans-serif", 16);

/// Tier bands, A (most valuable) to D.
const TIER_COLOURS: [RGBColor; 4] = [
    RGBColor(214, 39, 40),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(127, 127, 127),
];
const CURVE: RGBColor = RGBColor(31, 119, 180);
const HUMAN: RGBColor = RGBColor(31, 119, 180);
const AUTOMATED: RGBColor = RGBColor(174, 199, 232);
const COST: RGBColor = RGBColor(255, 127, 14);
const CONTROL: RGBColor = RGBColor(127, 127, 127);

type DrawResult = Result<(), Box<dyn Error>>;

fn write_svg(
    path: &Path,
    draw: impl FnOnce(&DrawingArea<SVGBackend<'_>, Shift>) -> DrawResult,
) -> anyhow::Result<()> {
    let root = SVGBackend::new(path, SIZE).into_drawing_area();
    draw(&root)
        .and_then(|()| root.present().map_err(Into::into))
        .map_err(|error| anyhow::anyhow!("drawing {}: {error}", path.display()))
}

/// The same drawing into a string, for a page that inlines it (the console).
fn render_svg(
    draw: impl FnOnce(&DrawingArea<SVGBackend<'_>, Shift>) -> DrawResult,
) -> anyhow::Result<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        draw(&root)
            .and_then(|()| root.present().map_err(Into::into))
            .map_err(|error| anyhow::anyhow!("drawing a chart: {error}"))?;
    }
    Ok(svg)
}

/// The value share of the least valuable `customer_share` of the base, read off the
/// Lorenz curve by linear interpolation.
fn lorenz_at(lorenz: &[(f64, f64)], customer_share: f64) -> f64 {
    for pair in lorenz.windows(2) {
        let ((x0, y0), (x1, y1)) = (pair[0], pair[1]);
        if customer_share <= x1 {
            if x1 <= x0 {
                return y1;
            }
            return y0 + (y1 - y0) * (customer_share - x0) / (x1 - x0);
        }
    }
    lorenz.last().map_or(customer_share, |&(_, y)| y)
}

/// The Lorenz curve with the top 2% and 20% marked, the tier bands and the Gini.
pub fn write_skew_svg(path: &Path, skew: &pb::GetValueSkewResponse) -> anyhow::Result<()> {
    let lorenz: Vec<(f64, f64)> = skew
        .lorenz
        .iter()
        .map(|point| (point.customer_share, point.value_share))
        .collect();
    anyhow::ensure!(
        lorenz.len() >= 2,
        "no Lorenz curve yet: record transactions and run `idic value refit`"
    );
    write_svg(path, |root| {
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(root)
            .caption(
                format!(
                    "Value skew of {} customers ({}): Gini {:.2}",
                    skew.customers, skew.value_measure, skew.gini
                ),
                TITLE,
            )
            .margin(20)
            .x_label_area_size(50)
            .y_label_area_size(70)
            .build_cartesian_2d(0f64..1f64, 0f64..1f64)?;
        chart
            .configure_mesh()
            .x_desc("share of customers, least valuable first")
            .y_desc("share of value")
            .x_label_formatter(&|x| format!("{:.0}%", x * 100.0))
            .y_label_formatter(&|y| format!("{:.0}%", y * 100.0))
            .label_style(LABEL)
            .draw()?;
        // Tier bands from the right: A are the most valuable customers.
        let total = skew.customers.max(1) as f64;
        let mut right = 1.0;
        let mut tiers = skew.tiers.clone();
        tiers.sort_by_key(|tier| tier.tier);
        for tier in &tiers {
            let width = tier.customers as f64 / total;
            let left = (right - width).max(0.0);
            let colour = TIER_COLOURS[(tier.tier.clamp(1, 4) - 1) as usize];
            let label = format!(
                "tier {}: {} customers, {:.0}% of value",
                tier_name(tier.tier),
                tier.customers,
                tier.value_share * 100.0
            );
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(left, 0.0), (right, 1.0)],
                    colour.mix(0.12).filled(),
                )))?
                .label(label)
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 6), (x + 16, y + 6)], colour.mix(0.4).filled())
                });
            right = left;
        }
        chart
            .draw_series(LineSeries::new(
                [(0.0, 0.0), (1.0, 1.0)],
                BLACK.mix(0.4).stroke_width(1),
            ))?
            .label("equality")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 16, y)], BLACK.mix(0.4)));
        chart
            .draw_series(LineSeries::new(lorenz.clone(), CURVE.stroke_width(3)))?
            .label("Lorenz curve")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 16, y)], CURVE.stroke_width(3)));
        // The labels stand together left of the marks, clear of the vertical lines.
        for (top_percent, label_height) in [(2.0, 0.95), (20.0, 0.89)] {
            let x = 1.0 - top_percent / 100.0;
            let below = lorenz_at(&lorenz, x);
            let share = skew
                .top_shares
                .iter()
                .find(|top| (top.top_percent - top_percent).abs() < 1e-9)
                .map_or(1.0 - below, |top| top.value_share);
            chart.draw_series(LineSeries::new(
                [(x, below), (x, 1.0)],
                BLACK.stroke_width(2),
            ))?;
            chart.draw_series(std::iter::once(Circle::new((x, below), 5, BLACK.filled())))?;
            chart.draw_series(std::iter::once(Text::new(
                format!(
                    "top {top_percent:.0}%: {:.0}% of value (line at {:.0}% of customers)",
                    share * 100.0,
                    x * 100.0
                ),
                (0.45, label_height),
                LABEL.into_font(),
            )))?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .label_font(LABEL)
            .draw()?;
        Ok(())
    })
}

/// Contacts per channel (human and automated) and what a contact costs there.
pub fn write_channels_svg(
    path: &Path,
    report: &pb::GetChannelReportResponse,
) -> anyhow::Result<()> {
    anyhow::ensure!(
        !report.channels.is_empty(),
        "no contacts in the period: nothing to draw"
    );
    let names: Vec<String> = report
        .channels
        .iter()
        .map(|figures| channel_name(figures.channel))
        .collect();
    let count = report.channels.len() as u32;
    let most_contacts = report
        .channels
        .iter()
        .map(|figures| figures.contacts)
        .max()
        .unwrap_or(1)
        .max(1);
    let costs: Vec<(f64, String)> = report
        .channels
        .iter()
        .map(|figures| cost_per_contact(figures).unwrap_or((0.0, String::new())))
        .collect();
    let currency = costs
        .iter()
        .find(|(_, currency)| !currency.is_empty())
        .map_or_else(String::new, |(_, currency)| currency.clone());
    let highest_cost = costs.iter().map(|(cost, _)| *cost).fold(0.0, f64::max);
    write_svg(path, |root| {
        root.fill(&WHITE)?;
        let root = root.titled(
            &format!(
                "Channels: {} contacts, automated share {:.0}%",
                report.contacts,
                report.automated_share * 100.0
            ),
            TITLE,
        )?;
        let (left, right) = root.split_horizontally(SIZE.0 / 2);
        let label_of = |value: &SegmentValue<u32>| match value {
            SegmentValue::CenterOf(index) | SegmentValue::Exact(index) => {
                names.get(*index as usize).cloned().unwrap_or_default()
            }
            SegmentValue::Last => String::new(),
        };
        let mut contacts = ChartBuilder::on(&left)
            .caption("contacts per channel", LABEL)
            .margin(15)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(
                (0u32..count).into_segmented(),
                0u64..most_contacts * 11 / 10 + 1,
            )?;
        contacts
            .configure_mesh()
            .disable_x_mesh()
            .x_label_formatter(&label_of)
            .y_desc("contacts")
            .label_style(LABEL)
            .draw()?;
        contacts
            .draw_series(
                Histogram::vertical(&contacts)
                    .style(HUMAN.filled())
                    .margin(8)
                    .data(
                        report
                            .channels
                            .iter()
                            .enumerate()
                            .map(|(index, figures)| (index as u32, figures.contacts)),
                    ),
            )?
            .label("handled by people")
            .legend(|(x, y)| Rectangle::new([(x, y - 6), (x + 16, y + 6)], HUMAN.filled()));
        contacts
            .draw_series(
                Histogram::vertical(&contacts)
                    .style(AUTOMATED.filled())
                    .margin(8)
                    .data(
                        report
                            .channels
                            .iter()
                            .enumerate()
                            .map(|(index, figures)| (index as u32, figures.automated_contacts)),
                    ),
            )?
            .label("automated")
            .legend(|(x, y)| Rectangle::new([(x, y - 6), (x + 16, y + 6)], AUTOMATED.filled()));
        contacts
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .label_font(LABEL)
            .draw()?;
        let mut cost = ChartBuilder::on(&right)
            .caption(format!("cost per contact ({currency})"), LABEL)
            .margin(15)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(
                (0u32..count).into_segmented(),
                0f64..(highest_cost * 1.1).max(0.01),
            )?;
        cost.configure_mesh()
            .disable_x_mesh()
            .x_label_formatter(&label_of)
            .y_desc(format!("{currency} per contact"))
            .label_style(LABEL)
            .draw()?;
        cost.draw_series(
            Histogram::vertical(&cost)
                .style(COST.filled())
                .margin(8)
                .data(
                    costs
                        .iter()
                        .enumerate()
                        .map(|(index, (value, _))| (index as u32, *value)),
                ),
        )?;
        Ok(())
    })
}

/// Acceptance per period under the learning policy against the control group.
pub fn write_learning_svg(
    path: &Path,
    report: &pb::LearningReport,
    period_days: u32,
) -> anyhow::Result<()> {
    check_learning(report)?;
    write_svg(path, |root| draw_learning(root, report, period_days))
}

/// The learning curve as an SVG string, for the operator console.
pub fn learning_svg(report: &pb::LearningReport, period_days: u32) -> anyhow::Result<String> {
    check_learning(report)?;
    render_svg(|root| draw_learning(root, report, period_days))
}

fn check_learning(report: &pb::LearningReport) -> anyhow::Result<()> {
    anyhow::ensure!(
        !report.periods.is_empty(),
        "no outcomes recorded yet: nothing to draw"
    );
    Ok(())
}

fn draw_learning(
    root: &DrawingArea<SVGBackend<'_>, Shift>,
    report: &pb::LearningReport,
    period_days: u32,
) -> DrawResult {
    let seconds =
        |period: &pb::LearningPeriod| period.start.as_ref().map_or(0, |start| start.seconds);
    let first = report.periods.first().map_or(0, seconds);
    let width = i64::from(period_days.max(1)) * 86_400;
    // x is the period's number from the first, so that each tick is one period.
    let index = |period: &pb::LearningPeriod| ((seconds(period) - first) / width) as f64;
    let periods = report.periods.last().map_or(0.0, index) + 1.0;
    let learner: Vec<(f64, f64)> = report
        .periods
        .iter()
        .filter(|period| period.learner_outcomes > 0)
        .map(|period| (index(period), period.learner_acceptance * 100.0))
        .collect();
    let control: Vec<(f64, f64)> = report
        .periods
        .iter()
        .filter(|period| period.control_outcomes > 0)
        .map(|period| (index(period), period.control_acceptance * 100.0))
        .collect();
    {
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(root)
            .caption(
                format!(
                    "Offer acceptance: learning {:.0}% vs control group {:.0}% (lift {:+.0}%)",
                    report.learner_acceptance * 100.0,
                    report.control_acceptance * 100.0,
                    report.lift * 100.0
                ),
                TITLE,
            )
            .margin(20)
            .x_label_area_size(50)
            .y_label_area_size(70)
            .build_cartesian_2d(-0.5f64..periods - 0.5, 0f64..100f64)?;
        chart
            .configure_mesh()
            .x_desc(format!("period of {period_days} day(s), from"))
            .y_desc("accepted, %")
            .x_label_formatter(&|at| {
                let text = time_text(Some(&prost_types::Timestamp {
                    seconds: first + at.round() as i64 * width,
                    nanos: 0,
                }));
                text.get(..10).unwrap_or(&text).to_owned()
            })
            .x_labels((periods as usize + 1).min(8))
            .label_style(LABEL)
            .draw()?;
        chart
            .draw_series(LineSeries::new(learner.clone(), CURVE.stroke_width(3)))?
            .label(format!(
                "learning policy ({} outcomes)",
                report.learner_outcomes
            ))
            .legend(|(x, y)| PathElement::new([(x, y), (x + 16, y)], CURVE.stroke_width(3)));
        chart.draw_series(
            learner
                .iter()
                .map(|point| Circle::new(*point, 5, CURVE.filled())),
        )?;
        chart
            .draw_series(LineSeries::new(control.clone(), CONTROL.stroke_width(3)))?
            .label(format!(
                "control group ({} outcomes)",
                report.control_outcomes
            ))
            .legend(|(x, y)| PathElement::new([(x, y), (x + 16, y)], CONTROL.stroke_width(3)));
        chart.draw_series(
            control
                .iter()
                .map(|point| TriangleMarker::new(*point, 6, CONTROL.filled())),
        )?;
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .label_font(LABEL)
            .draw()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The texts of an SVG file, after checking that it is well-formed XML.
    fn svg_texts(path: &Path) -> Vec<String> {
        let text = std::fs::read_to_string(path).unwrap();
        let document = roxmltree::Document::parse(&text).expect("well-formed SVG");
        assert_eq!(document.root_element().tag_name().name(), "svg");
        document
            .descendants()
            .filter(|node| node.has_tag_name("text"))
            .map(|node| node.text().unwrap_or_default().to_owned())
            .collect()
    }

    fn has(texts: &[String], wanted: &str) -> bool {
        texts.iter().any(|text| text.contains(wanted))
    }

    #[test]
    fn the_skew_chart_marks_the_top_shares_tiers_and_gini() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("skew.svg");
        let skew = pb::GetValueSkewResponse {
            customers: 100,
            value_measure: "predicted_clv".into(),
            gini: 0.71,
            lorenz: [(0.0, 0.0), (0.5, 0.1), (0.8, 0.3), (0.98, 0.7), (1.0, 1.0)]
                .iter()
                .map(|&(customer_share, value_share)| pb::LorenzPoint {
                    customer_share,
                    value_share,
                })
                .collect(),
            top_shares: vec![
                pb::TopShare {
                    top_percent: 2.0,
                    value_share: 0.3,
                },
                pb::TopShare {
                    top_percent: 20.0,
                    value_share: 0.7,
                },
            ],
            tiers: (1..=4)
                .map(|tier| pb::TierSummary {
                    tier,
                    customers: 25,
                    threshold: 0.0,
                    value_share: 0.25,
                })
                .collect(),
            ..Default::default()
        };
        write_skew_svg(&path, &skew).unwrap();
        let texts = svg_texts(&path);
        for wanted in [
            "Gini 0.71",
            "top 2%: 30% of value",
            "top 20%: 70% of value",
            "tier A",
            "tier D",
            "Lorenz curve",
        ] {
            assert!(has(&texts, wanted), "{wanted} missing from {texts:?}");
        }
        assert!(write_skew_svg(&path, &pb::GetValueSkewResponse::default()).is_err());
    }

    #[test]
    fn the_channel_chart_names_each_channel_and_the_automated_share() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("channels.svg");
        let figures = |channel: pb::Channel, contacts, automated, cost| pb::ChannelFigures {
            channel: channel as i32,
            contacts,
            automated_contacts: automated,
            cost: vec![pb::Money {
                currency: "EUR".into(),
                minor_units: cost,
            }],
            average_cost_minor_units: cost as f64 / contacts as f64,
        };
        let report = pb::GetChannelReportResponse {
            channels: vec![
                figures(pb::Channel::CallCenter, 40, 0, 24_000),
                figures(pb::Channel::Web, 200, 180, 2_000),
            ],
            contacts: 240,
            automated_share: 0.75,
            ..Default::default()
        };
        write_channels_svg(&path, &report).unwrap();
        let texts = svg_texts(&path);
        for wanted in [
            "automated share 75%",
            "call-center",
            "web",
            "automated",
            "cost per contact (EUR)",
        ] {
            assert!(has(&texts, wanted), "{wanted} missing from {texts:?}");
        }
    }

    #[test]
    fn the_learning_chart_has_both_curves() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("learning.svg");
        let period = |day: i64, learner: f64, control: f64| pb::LearningPeriod {
            start: Some(prost_types::Timestamp {
                seconds: 1_772_409_600 + day * 86_400,
                nanos: 0,
            }),
            learner_outcomes: 10,
            learner_acceptance: learner,
            control_outcomes: 5,
            control_acceptance: control,
        };
        let report = pb::LearningReport {
            learner_outcomes: 20,
            learner_acceptance: 0.5,
            control_outcomes: 10,
            control_acceptance: 0.25,
            lift: 1.0,
            periods: vec![period(0, 0.4, 0.3), period(1, 0.6, 0.2)],
        };
        write_learning_svg(&path, &report, 1).unwrap();
        let texts = svg_texts(&path);
        for wanted in [
            "learning 50% vs control group 25% (lift +100%)",
            "learning policy (20 outcomes)",
            "control group (10 outcomes)",
            "2026-03-02",
        ] {
            assert!(has(&texts, wanted), "{wanted} missing from {texts:?}");
        }
        assert!(write_learning_svg(&path, &pb::LearningReport::default(), 1).is_err());
    }

    #[test]
    fn the_curve_is_read_between_its_points() {
        let lorenz = [(0.0, 0.0), (0.5, 0.2), (1.0, 1.0)];
        assert!((lorenz_at(&lorenz, 0.25) - 0.1).abs() < 1e-12);
        assert!((lorenz_at(&lorenz, 0.75) - 0.6).abs() < 1e-12);
        assert!((lorenz_at(&lorenz, 1.0) - 1.0).abs() < 1e-12);
    }
}
