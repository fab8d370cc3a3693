//! The tray's icons, drawn once as shapes and rendered two ways: as the SVG files `make install`
//! puts in the icon theme (packaging/icons/, kept equal to what this module draws by a test) and
//! as the ARGB pixmaps hosts draw when the theme has no such icon. Every icon is the app's glyph
//! (a terminal window with a prompt) with a status emblem whose shape, not only its colour,
//! tells the state: a cross (the daemon is not running), a hollow ring (nothing runs), a play
//! triangle in a disc (sessions run), a warning triangle (something waits for a person).

/// What the icon says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mood {
    Down,
    Idle,
    Running,
    Attention,
}

impl Mood {
    #[cfg(test)]
    pub const ALL: [Mood; 4] = [Mood::Down, Mood::Idle, Mood::Running, Mood::Attention];

    /// The themed icon's name.
    pub fn icon_name(self) -> &'static str {
        match self {
            Mood::Down => "trusty-mpm-down",
            Mood::Idle => "trusty-mpm-idle",
            Mood::Running => "trusty-mpm-running",
            Mood::Attention => "trusty-mpm-attention",
        }
    }
}

/// The app icon's name (desktop entry, notifications, the menu's title).
pub const APP_ICON: &str = "trusty-mpm";

/// The grid shapes are drawn on.
const GRID: f32 = 32.0;

type Pt = (f32, f32);

#[derive(Debug, Clone, Copy)]
enum Shape {
    /// A rectangle with rounded corners: two corners and the radius.
    Rect(Pt, Pt, f32),
    /// A stroke with round ends: its ends and its width.
    Line(Pt, Pt, f32),
    Disc(Pt, f32),
    /// A circle's outline: centre, radius, width.
    Ring(Pt, f32, f32),
    /// A convex polygon with corners rounded by the radius.
    Polygon(&'static [Pt], f32),
}

/// Shapes with their colours (ARGB), drawn in order.
type Drawing = Vec<(Shape, u32)>;

const WHITE: u32 = 0xffffffff;

/// The app's glyph: a terminal window with a `>_` prompt.
fn glyph() -> Drawing {
    vec![
        (Shape::Rect((1.5, 3.5), (28.5, 26.5), 4.5), 0xff8e97ab),
        (Shape::Rect((3.0, 5.0), (27.0, 25.0), 3.0), 0xff262b38),
        (Shape::Line((7.5, 10.0), (12.0, 14.0), 2.4), 0xffe8ecf4),
        (Shape::Line((12.0, 14.0), (7.5, 18.0), 2.4), 0xffe8ecf4),
        (Shape::Line((14.5, 18.5), (20.0, 18.5), 2.4), 0xffe8ecf4),
    ]
}

/// The glyph with the mood's emblem at its lower right, on a white halo that keeps it apart
/// from the glyph whatever the panel's colour.
fn drawing(mood: Mood) -> Drawing {
    const C: Pt = (24.0, 24.0);
    const TRIANGLE: &[Pt] = &[(24.0, 15.5), (31.0, 29.5), (17.0, 29.5)];
    const PLAY: &[Pt] = &[(22.0, 20.5), (27.5, 24.0), (22.0, 27.5)];
    let mut d = glyph();
    match mood {
        // Faded, as a program that is not there.
        Mood::Down => {
            for (_, argb) in d.iter_mut() {
                *argb = (*argb & 0xffffff) | 0x70 << 24;
            }
            d.extend([
                (Shape::Disc(C, 8.0), WHITE),
                (Shape::Disc(C, 6.8), 0xff5f646c),
                (Shape::Line((20.5, 24.0), (27.5, 24.0), 2.6), WHITE),
            ])
        }
        Mood::Idle => d.extend([
            (Shape::Disc(C, 8.0), WHITE),
            (Shape::Ring(C, 5.2, 2.6), 0xff6b7077),
        ]),
        Mood::Running => d.extend([
            (Shape::Disc(C, 8.0), WHITE),
            (Shape::Disc(C, 6.8), 0xff2e9e44),
            (Shape::Polygon(PLAY, 0.6), WHITE),
        ]),
        Mood::Attention => d.extend([
            (Shape::Polygon(TRIANGLE, 1.8), WHITE),
            (Shape::Polygon(TRIANGLE, 0.6), 0xfff0a020),
            (Shape::Line((24.0, 20.0), (24.0, 24.2), 2.2), 0xff262b38),
            (Shape::Disc((24.0, 27.0), 1.2), 0xff262b38),
        ]),
    }
    d
}

/// An icon file: the app icon (`None`) or a mood's (the test that keeps packaging/icons/
/// equal to the drawings writes them).
#[cfg(test)]
fn svg(mood: Option<Mood>) -> String {
    let (title, shapes) = match mood {
        None => ("trusty-mpm".to_owned(), glyph()),
        Some(m) => (format!("trusty-mpm: {m:?}"), drawing(m)),
    };
    use std::fmt::Write;
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!-- Drawn by src/cli/tray/icon.rs: its test icon_files_are_what_the_code_draws writes this file when TRUSTY_MPM_WRITE_ICONS=1. -->\n<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"32\" height=\"32\" viewBox=\"0 0 32 32\">\n  <title>{title}</title>\n"
    );
    for (shape, argb) in shapes {
        let c = format!("#{:06x}", argb & 0xffffff);
        let op = match argb >> 24 {
            0xff => String::new(),
            a => format!(" opacity=\"{:.2}\"", a as f32 / 255.0),
        };
        let _ = match shape {
            Shape::Rect((x0, y0), (x1, y1), r) => writeln!(
                out,
                "  <rect x=\"{x0}\" y=\"{y0}\" width=\"{}\" height=\"{}\" rx=\"{r}\" fill=\"{c}\"{op}/>",
                x1 - x0,
                y1 - y0
            ),
            Shape::Line((x1, y1), (x2, y2), w) => writeln!(
                out,
                "  <line x1=\"{x1}\" y1=\"{y1}\" x2=\"{x2}\" y2=\"{y2}\" stroke=\"{c}\" stroke-width=\"{w}\" stroke-linecap=\"round\"{op}/>"
            ),
            Shape::Disc((x, y), r) => {
                writeln!(
                    out,
                    "  <circle cx=\"{x}\" cy=\"{y}\" r=\"{r}\" fill=\"{c}\"{op}/>"
                )
            }
            Shape::Ring((x, y), r, w) => writeln!(
                out,
                "  <circle cx=\"{x}\" cy=\"{y}\" r=\"{r}\" fill=\"none\" stroke=\"{c}\" stroke-width=\"{w}\"{op}/>"
            ),
            Shape::Polygon(pts, r) => {
                let pts: Vec<String> = pts.iter().map(|(x, y)| format!("{x},{y}")).collect();
                writeln!(
                    out,
                    "  <polygon points=\"{}\" fill=\"{c}\" stroke=\"{c}\" stroke-width=\"{}\" stroke-linejoin=\"round\"{op}/>",
                    pts.join(" "),
                    2.0 * r
                )
            }
        };
    }
    out.push_str("</svg>\n");
    out
}

/// Signed distance from `p` to the shape's edge, in grid units (negative inside).
fn distance(shape: &Shape, p: Pt) -> f32 {
    let len = |x: f32, y: f32| (x * x + y * y).sqrt();
    match *shape {
        Shape::Rect((x0, y0), (x1, y1), r) => {
            let (cx, cy) = ((x0 + x1) / 2.0, (y0 + y1) / 2.0);
            let qx = (p.0 - cx).abs() - ((x1 - x0) / 2.0 - r);
            let qy = (p.1 - cy).abs() - ((y1 - y0) / 2.0 - r);
            len(qx.max(0.0), qy.max(0.0)) + qx.max(qy).min(0.0) - r
        }
        Shape::Line(a, b, w) => segment(p, a, b) - w / 2.0,
        Shape::Disc(c, r) => len(p.0 - c.0, p.1 - c.1) - r,
        Shape::Ring(c, r, w) => (len(p.0 - c.0, p.1 - c.1) - r).abs() - w / 2.0,
        Shape::Polygon(pts, r) => polygon(p, pts) - r,
    }
}

/// Distance from `p` to the segment a–b.
fn segment(p: Pt, a: Pt, b: Pt) -> f32 {
    let (ex, ey) = (b.0 - a.0, b.1 - a.1);
    let (wx, wy) = (p.0 - a.0, p.1 - a.1);
    let t = ((wx * ex + wy * ey) / (ex * ex + ey * ey)).clamp(0.0, 1.0);
    ((wx - ex * t).powi(2) + (wy - ey * t).powi(2)).sqrt()
}

/// Signed distance to a polygon: to its nearest edge, negative inside (even-odd rule).
fn polygon(p: Pt, pts: &[Pt]) -> f32 {
    let mut d = f32::MAX;
    let mut inside = false;
    for (i, &a) in pts.iter().enumerate() {
        let b = pts[(i + 1) % pts.len()];
        d = d.min(segment(p, a, b));
        if (a.1 > p.1) != (b.1 > p.1) && p.0 < a.0 + (p.1 - a.1) / (b.1 - a.1) * (b.0 - a.0) {
            inside = !inside;
        }
    }
    if inside { -d } else { d }
}

/// One icon image: width, height and ARGB32 pixels in network byte order.
pub type Pixmap = (i32, i32, Vec<u8>);

/// The mood's icon as pixmaps at the sizes trays draw.
pub fn pixmaps(mood: Mood) -> Vec<Pixmap> {
    let shapes = drawing(mood);
    [16, 22, 24, 32, 48]
        .into_iter()
        .map(|size| (size, size, render(&shapes, size as usize)))
        .collect()
}

/// The shapes at `size` pixels square, each edge smoothed over one pixel.
fn render(shapes: &Drawing, size: usize) -> Vec<u8> {
    let scale = GRID / size as f32;
    let mut px = Vec::with_capacity(size * size * 4);
    for y in 0..size {
        for x in 0..size {
            let p = ((x as f32 + 0.5) * scale, (y as f32 + 0.5) * scale);
            // Premultiplied colour and coverage, painted over in order.
            let (mut a, mut r, mut g, mut b) = (0.0f32, 0.0f32, 0.0f32, 0.0f32);
            for (shape, argb) in shapes {
                let channel = |shift: u32| ((argb >> shift) & 0xff) as f32 / 255.0;
                let cover = (0.5 - distance(shape, p) / scale).clamp(0.0, 1.0) * channel(24);
                r = channel(16) * cover + r * (1.0 - cover);
                g = channel(8) * cover + g * (1.0 - cover);
                b = channel(0) * cover + b * (1.0 - cover);
                a = cover + a * (1.0 - cover);
            }
            let straight = |c: f32| match a > 0.0 {
                true => (c / a * 255.0).round() as u8,
                false => 0,
            };
            px.extend([
                (a * 255.0).round() as u8,
                straight(r),
                straight(g),
                straight(b),
            ]);
        }
    }
    px
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The icon files as `make install` installs them, with what this module draws.
    fn files() -> Vec<(String, String)> {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/packaging/icons");
        let mut out = vec![(format!("{dir}/{APP_ICON}.svg"), svg(None))];
        for m in Mood::ALL {
            out.push((format!("{dir}/{}.svg", m.icon_name()), svg(Some(m))));
        }
        out
    }

    #[test]
    fn icon_files_are_what_the_code_draws() {
        for (path, drawn) in files() {
            if std::env::var_os("TRUSTY_MPM_WRITE_ICONS").is_some() {
                std::fs::write(&path, &drawn).unwrap();
            }
            let shipped = std::fs::read_to_string(&path).unwrap_or_default();
            assert!(
                shipped == drawn,
                "{path} differs from what src/cli/tray/icon.rs draws; regenerate with TRUSTY_MPM_WRITE_ICONS=1 cargo test --lib icon"
            );
        }
    }

    /// Which pixels are light, as someone who tells no colours apart sees the icon.
    fn light(px: &[u8]) -> Vec<bool> {
        px.chunks(4)
            .map(|p| {
                let lum = 0.3 * p[1] as f32 + 0.59 * p[2] as f32 + 0.11 * p[3] as f32;
                lum * p[0] as f32 / 255.0 > 127.0
            })
            .collect()
    }

    #[test]
    fn each_mood_has_an_emblem_of_its_own_shape_at_every_size() {
        for size in [16, 22, 32] {
            let glyph = light(&render(&glyph(), size));
            let masks: Vec<Vec<bool>> = Mood::ALL
                .iter()
                .map(|m| light(&render(&drawing(*m), size)))
                .collect();
            for (i, a) in masks.iter().enumerate() {
                let emblem = a.iter().zip(&glyph).filter(|(x, y)| x != y).count();
                assert!(
                    emblem > size,
                    "{:?} has no emblem at {size} px",
                    Mood::ALL[i]
                );
                for (j, b) in masks.iter().enumerate().skip(i + 1) {
                    let differ = a.iter().zip(b).filter(|(x, y)| x != y).count();
                    assert!(
                        differ >= size / 2,
                        "{:?} and {:?} differ in {differ} pixels at {size} px",
                        Mood::ALL[i],
                        Mood::ALL[j]
                    );
                }
            }
        }
    }

    #[test]
    fn pixmaps_are_argb32_with_transparent_corners() {
        for (w, h, px) in pixmaps(Mood::Running) {
            assert_eq!(px.len(), (w * h * 4) as usize);
            assert_eq!(px[0], 0, "the corners are transparent");
            // The window's inside, right of the prompt, above the emblem: opaque dark slate.
            let at = (((h * 9 / 32) * w + w * 22 / 32) * 4) as usize;
            assert_eq!(&px[at..at + 4], &[255, 0x26, 0x2b, 0x38]);
        }
    }
}
