//! Linking codes drawn as QR images: SVG (qrcode's renderer), PNG (its module matrix written
//! with the png crate), and Unicode half-blocks for a terminal.

use qrcode::render::{svg, unicode};
use qrcode::{Color, QrCode};

/// Pixels per QR module in the PNG, and modules of quiet zone around it.
const SCALE: usize = 8;
const QUIET: usize = 4;

pub fn svg(text: &str) -> Option<String> {
    let code = QrCode::new(text.as_bytes()).ok()?;
    Some(code.render::<svg::Color<'_>>().min_dimensions(256, 256).build())
}

pub fn png(text: &str) -> Option<Vec<u8>> {
    let code = QrCode::new(text.as_bytes()).ok()?;
    let modules = code.width();
    let colors = code.to_colors();
    let side = (modules + 2 * QUIET) * SCALE;
    let mut pixels = vec![255u8; side * side];
    for (i, color) in colors.iter().enumerate() {
        if *color == Color::Dark {
            let (mx, my) = (i % modules + QUIET, i / modules + QUIET);
            for y in my * SCALE..(my + 1) * SCALE {
                pixels[y * side + mx * SCALE..y * side + (mx + 1) * SCALE].fill(0);
            }
        }
    }
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, side as u32, side as u32);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().ok()?;
    writer.write_image_data(&pixels).ok()?;
    writer.finish().ok()?;
    Some(out)
}

/// The code as text art for a terminal (two rows per character).
pub fn terminal(text: &str) -> Option<String> {
    let code = QrCode::new(text.as_bytes()).ok()?;
    Some(code.render::<unicode::Dense1x2>().quiet_zone(true).build())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_are_well_formed() {
        let text = "2@abc,def,ghi";
        let png = png(text).unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        let decoder = png::Decoder::new(std::io::Cursor::new(png));
        let info = decoder.read_info().unwrap().info().clone();
        assert_eq!(info.width, info.height);
        assert_eq!(info.width as usize % SCALE, 0);
        let svg = svg(text).unwrap();
        assert!(svg.contains("<svg") && svg.contains("</svg>"));
        assert!(terminal(text).unwrap().lines().count() > 10);
    }
}
