//! Object storage: the S3 client every service uses, the layout of what is stored, the
//! embedded endpoint of single-process mode, and container sniffing of uploads.

#![warn(missing_docs)]

pub mod container;
pub mod embedded_s3;
pub mod layout;
mod object_store;

pub use object_store::{ObjectMeta, ObjectStore, PART_SIZE, SINGLE_PUT_MAX, StoredObject, StreamingUpload};
