//! Profile images (accounts.md §15): an upload is checked by content
//! (JPEG, PNG or GIF, 100 B to 1 MiB, bounded dimensions), cropped square,
//! resized to each of the site's sizes and stored through an [`ImageStore`].

use std::io::Cursor;
use std::path::{Path, PathBuf};

use image::{imageops::FilterType, DynamicImage, ImageFormat, ImageReader, Limits};
use md5::{Digest, Md5};

use crate::encoding::hex;
use crate::sites::Site;

/// Smallest accepted upload, in bytes.
pub const MIN_BYTES: usize = 100;
/// Largest accepted upload, in bytes.
pub const MAX_BYTES: usize = 1024 * 1024;
/// The request body limit of the upload route: the file plus multipart framing.
pub const UPLOAD_BODY_LIMIT: usize = MAX_BYTES + 64 * 1024;
/// Largest accepted width or height: a 1 MiB file must not unpack into gigabytes.
const MAX_DIMENSION: u32 = 4096;

/// Why an upload was refused; each is a 400 with the message as both texts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImageError {
    #[error("The file must be smaller than 1 MB in size.")]
    TooLarge,
    #[error("The file must be at least 100 bytes in size.")]
    TooSmall,
    #[error("The file must be one of the following types: .gif, .png, .jpeg, .jpg.")]
    BadType,
    #[error("The file could not be read as an image. It may be corrupted or too large to process.")]
    Unreadable,
}

/// Where resized images are kept. The filesystem is the default; an object
/// store can implement the same three operations.
pub trait ImageStore: Send + Sync {
    fn put(&self, name: &str, bytes: &[u8]) -> std::io::Result<()>;
    fn get(&self, name: &str) -> std::io::Result<Vec<u8>>;
    fn delete(&self, name: &str) -> std::io::Result<()>;
}

/// Images in a directory, one per tenant so equal usernames never collide.
#[derive(Debug, Clone)]
pub struct FilesystemStore {
    root: PathBuf,
}

impl FilesystemStore {
    /// The store of `site`'s tenant under the site's configured path.
    pub fn for_site(site: &Site) -> FilesystemStore {
        FilesystemStore { root: Path::new(&site.config.profile_image.storage.path).join(&site.tenant) }
    }
}

impl ImageStore for FilesystemStore {
    fn put(&self, name: &str, bytes: &[u8]) -> std::io::Result<()> {
        std::fs::create_dir_all(&self.root)?;
        let tmp = self.root.join(format!(".{name}.tmp"));
        std::fs::write(&tmp, bytes)?;
        std::fs::rename(tmp, self.root.join(name))
    }

    fn get(&self, name: &str) -> std::io::Result<Vec<u8>> {
        std::fs::read(self.root.join(name))
    }

    fn delete(&self, name: &str) -> std::io::Result<()> {
        match std::fs::remove_file(self.root.join(name)) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            other => other,
        }
    }
}

/// The file name stem of a user's images: md5(hash_seed + username).
pub fn image_stem(site: &Site, username: &str) -> String {
    hex(&Md5::digest(format!("{}{}", site.config.profile_image.hash_seed, username).as_bytes()))
}

/// Whether `name` is one of our image file names (no path tricks).
pub fn is_image_file_name(name: &str) -> bool {
    name.strip_suffix(".jpg").is_some_and(|stem| {
        !stem.is_empty() && stem.bytes().all(|b| b.is_ascii_hexdigit() || b == b'_' || b.is_ascii_digit())
    })
}

/// Checks and decodes an upload.
pub fn decode(bytes: &[u8]) -> Result<DynamicImage, ImageError> {
    if bytes.len() > MAX_BYTES {
        return Err(ImageError::TooLarge);
    }
    if bytes.len() < MIN_BYTES {
        return Err(ImageError::TooSmall);
    }
    let format = image::guess_format(bytes).map_err(|_| ImageError::BadType)?;
    if !matches!(format, ImageFormat::Jpeg | ImageFormat::Png | ImageFormat::Gif) {
        return Err(ImageError::BadType);
    }
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_DIMENSION);
    limits.max_image_height = Some(MAX_DIMENSION);
    limits.max_alloc = Some(256 * 1024 * 1024);
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    reader.limits(limits);
    reader.decode().map_err(|_| ImageError::Unreadable)
}

/// The image cropped to a centred square and resized to `px`, as JPEG.
pub fn render(image: &DynamicImage, px: u32) -> Result<Vec<u8>, ImageError> {
    let side = image.width().min(image.height());
    let x = (image.width() - side) / 2;
    let y = (image.height() - side) / 2;
    let square = image.crop_imm(x, y, side, side).resize_exact(px, px, FilterType::Triangle).to_rgb8();
    let mut out = Cursor::new(Vec::new());
    DynamicImage::ImageRgb8(square).write_to(&mut out, ImageFormat::Jpeg).map_err(|_| ImageError::Unreadable)?;
    Ok(out.into_inner())
}
