//! Writes a synthetic data set in the MVTec AD layout.
//!
//! ```sh
//! cargo run -p rdpp-data --example synthetic -- OUT_DIR [texture|object|PHOTO.png] [SIZE] [SEED]
//! ```
//!
//! With a photo path (e.g. scikit-image's CC0 `brick.png`), windows of the photo are used.

use std::path::PathBuf;

use rdpp_data::{SyntheticKind, SyntheticSpec, generate, generate_from_texture};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(out) = args.first().map(PathBuf::from) else {
        eprintln!("usage: synthetic OUT_DIR [texture|object|PHOTO] [SIZE] [SEED]");
        std::process::exit(2);
    };
    let what = args.get(1).map_or("texture", String::as_str);
    let size = args.get(2).map_or(Ok(256), |s| s.parse())?;
    let seed = args.get(3).map_or(Ok(0), |s| s.parse())?;
    let kind = if what == "object" {
        SyntheticKind::Object
    } else {
        SyntheticKind::Texture
    };
    let mut spec = SyntheticSpec::new(kind, seed);
    spec.size = size;
    let generated = if what == "texture" || what == "object" {
        generate(&out, &spec)?
    } else {
        let photo = rdpp_inference::image_io::read_rgb8(
            std::path::Path::new(what),
            &rdpp_data::DecodeLimits::default(),
        )?;
        spec.category = std::path::Path::new(what)
            .file_stem()
            .map_or("photo".into(), |s| s.to_string_lossy().into_owned());
        generate_from_texture(&out, &photo, &spec)?
    };
    println!(
        "wrote {} files under {}",
        generated.files.len(),
        generated.dir.display()
    );
    Ok(())
}
