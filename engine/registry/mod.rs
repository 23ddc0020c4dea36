//! Pulling images from registries: OCI Distribution clients and the resumable blob download
//! they (and ECR's presigned layer URLs) stream layers through.

pub mod blob;
