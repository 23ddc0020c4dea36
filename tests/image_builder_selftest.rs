//! Checks the test image builder (`tests/common/image.rs`) against independent tools: GNU tar,
//! gzip, zstd, sha256sum and skopeo (without it the skopeo tests skip; under CI=true they fail). Run with
//! `cargo test --test image_builder_selftest`.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::image::*;
use serde_json::{Value, json};

// ----------------------------------------------------------------------------------------------
// helpers
// ----------------------------------------------------------------------------------------------

fn run(cmd: &str, args: &[&str]) -> Output {
    Command::new(cmd).args(args).output().unwrap_or_else(|e| panic!("cannot run {cmd}: {e}"))
}

fn run_ok(cmd: &str, args: &[&str]) -> Vec<u8> {
    let o = run(cmd, args);
    assert!(o.status.success(), "{cmd} {args:?} failed: {}\n{}", o.status, String::from_utf8_lossy(&o.stderr));
    o.stdout
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// `sha256:<hex>` as computed by coreutils' sha256sum.
fn sha256sum(path: &Path) -> String {
    let out = String::from_utf8(run_ok("sha256sum", &[p(path)])).unwrap();
    format!("sha256:{}", out.split_whitespace().next().unwrap())
}

/// Decompresses a blob file with the real tool for its media type.
fn decode_with_tool(path: &Path, media_type: &str) -> Vec<u8> {
    if media_type.ends_with("+gzip") || media_type.ends_with(".tar.gzip") {
        run_ok("gzip", &["-t", p(path)]);
        run_ok("gzip", &["-dc", p(path)])
    } else if media_type.ends_with("+zstd") {
        run_ok("zstd", &["-q", "-t", p(path)]);
        run_ok("zstd", &["-q", "-dc", p(path)])
    } else {
        assert!(media_type.ends_with(".tar"), "unexpected layer media type {media_type}");
        fs::read(path).unwrap()
    }
}

/// Names in a tar file as GNU tar lists them (`-P` keeps absolute names as stored).
fn tar_names(path: &Path) -> Vec<String> {
    String::from_utf8(run_ok("tar", &["-tPf", p(path)])).unwrap().lines().map(String::from).collect()
}

fn write_tmp(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let f = dir.join(name);
    fs::write(&f, bytes).unwrap();
    f
}

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&fs::read(path).unwrap()).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn skopeo() -> bool {
    common::require::require_tool("skopeo", &["--version"], "skopeo")
}

/// Checks a layout directory end to end with independent tools: the layout marker, every
/// descriptor reachable from index.json (file exists, size, sha256sum), and for every manifest
/// that its config's diff_ids are the sha256 of the layers decoded by gzip/zstd. Returns the
/// manifest digests found.
fn validate_layout(dir: &Path) -> Vec<String> {
    assert_eq!(read_json(&dir.join("oci-layout")), json!({"imageLayoutVersion": "1.0.0"}));
    let index = read_json(&dir.join("index.json"));
    assert_eq!(index["schemaVersion"], 2);
    // skopeo itself omits the (optional) mediaType of index.json.
    assert!(index["mediaType"].is_null() || index["mediaType"] == MT_OCI_INDEX);
    let mut manifests = Vec::new();
    for (mt, digest, size) in layout_descriptors(dir) {
        let f = blob_path(dir, &digest);
        assert!(f.is_file(), "blob {digest} ({mt}) missing");
        assert_eq!(fs::metadata(&f).unwrap().len(), size, "size of {digest}");
        assert_eq!(sha256sum(&f), digest, "sha256sum of {mt} blob");
        if mt == MT_OCI_MANIFEST || mt == MT_DOCKER_MANIFEST {
            manifests.push(digest.clone());
            let m = read_json(&f);
            assert_eq!(m["schemaVersion"], 2);
            assert_eq!(m["mediaType"], mt.as_str());
            let want_cfg = if mt == MT_OCI_MANIFEST { MT_OCI_CONFIG } else { MT_DOCKER_CONFIG };
            assert_eq!(m["config"]["mediaType"], want_cfg);
            let cfg = read_json(&blob_path(dir, m["config"]["digest"].as_str().unwrap()));
            check_config(&cfg);
            let layers = m["layers"].as_array().unwrap();
            let diff_ids = cfg["rootfs"]["diff_ids"].as_array().unwrap();
            assert_eq!(layers.len(), diff_ids.len());
            for (l, want) in layers.iter().zip(diff_ids) {
                let lmt = l["mediaType"].as_str().unwrap();
                if mt == MT_OCI_MANIFEST {
                    assert!(lmt.starts_with(MT_OCI_LAYER), "{lmt}");
                } else {
                    assert!(lmt.starts_with(MT_DOCKER_LAYER), "{lmt}");
                }
                let tar = decode_with_tool(&blob_path(dir, l["digest"].as_str().unwrap()), lmt);
                let tmp = tempfile::NamedTempFile::new().unwrap();
                fs::write(tmp.path(), &tar).unwrap();
                assert_eq!(&json!(sha256sum(tmp.path())), want, "diff_id");
                tar_names(tmp.path()); // GNU tar reads it
            }
        }
    }
    manifests
}

fn check_config(cfg: &Value) {
    assert!(cfg["created"].is_string());
    assert!(cfg["os"].is_string());
    assert!(cfg["architecture"].is_string());
    assert!(cfg["config"].is_object());
    assert_eq!(cfg["rootfs"]["type"], "layers");
    let n_layers = cfg["rootfs"]["diff_ids"].as_array().unwrap().len();
    let non_empty = cfg["history"].as_array().unwrap().iter().filter(|h| h["empty_layer"] != json!(true)).count();
    assert_eq!(non_empty, n_layers, "one non-empty history entry per layer");
}

fn sample_layers() -> Vec<Layer> {
    vec![
        Layer::plain(vec![
            Entry::file("etc/os-release", os_release("debian", "12", "Debian GNU/Linux 12 (bookworm)")),
            Entry::file(
                "var/lib/dpkg/status",
                dpkg_status_stanza("bash", "5.2.15-2+b2", "amd64", None, "install ok installed")
                    + &dpkg_status_stanza("libc6", "2.36-9+deb12u4", "amd64", Some("glibc"), "install ok installed"),
            ),
            Entry::file("tmp/gone", "x"),
            Entry::file("opt/app/old", "old"),
        ]),
        Layer::gzip(vec![
            Entry::whiteout("tmp/gone"),
            Entry::opaque("opt/app"),
            Entry::file_mode("usr/bin/tool", "#!/bin/sh\n", 0o4755),
            Entry::symlink("usr/bin/alias", "tool"),
        ]),
        Layer::zstd(vec![Entry::file("srv/data.bin", vec![7u8; 100_000])]),
    ]
}

fn sample_spec() -> ImageSpec {
    ImageSpec::new(sample_layers()).with_config(json!({
        "Env": ["PATH=/usr/local/bin:/usr/bin:/bin", "SECRET_TOKEN=hunter2"],
        "User": "root",
        "ExposedPorts": {"22/tcp": {}},
        "Labels": {"org.example": "yes"},
        "Cmd": ["/bin/sh"],
    }))
}

// ----------------------------------------------------------------------------------------------
// layers
// ----------------------------------------------------------------------------------------------

#[test]
fn layer_tar_is_listed_by_gnu_tar() {
    let long_dir = "a".repeat(60);
    let long_path = format!("{long_dir}/{}", "b".repeat(70)); // > 100 bytes: GNU long name
    let hostile_long = format!("../{}/escape", "c".repeat(110));
    let layer = Layer::plain(vec![
        Entry::file("/usr/share/doc/readme", "hello"),
        Entry::dir("var/empty"),
        Entry::symlink("usr/lib/libx.so", "libx.so.1"),
        Entry::hardlink("usr/share/doc/readme2", "usr/share/doc/readme"),
        Entry::whiteout("etc/removed.conf"),
        Entry::opaque("opt"),
        Entry::file(&long_path, "long"),
        Entry::raw(&b"../../etc/evil"[..], "pwn", b'0', None),
        Entry::raw(&b"/abs/file"[..], "abs", b'0', None),
        Entry::raw(&b"link-out"[..], "", b'2', Some(&b"../../../../etc/shadow"[..])),
        Entry::raw(&b"hard-out"[..], "", b'1', Some(&b"/etc/passwd"[..])),
        Entry::raw(hostile_long.as_bytes(), "deep", b'0', None),
    ]);
    let tmp = tempfile::tempdir().unwrap();
    let tar = layer.tar_bytes();
    assert_eq!(tar, layer.tar_bytes(), "deterministic");
    assert_eq!(tar.len() % 512, 0);
    let f = write_tmp(tmp.path(), "layer.tar", &tar);
    let names = tar_names(&f);
    let want = [
        "usr/",
        "usr/share/",
        "usr/share/doc/",
        "usr/share/doc/readme",
        "var/",
        "var/empty/",
        "usr/lib/",
        "usr/lib/libx.so",
        "usr/share/doc/readme2",
        "etc/",
        "etc/.wh.removed.conf",
        "opt/",
        "opt/.wh..wh..opq",
        &format!("{long_dir}/"),
        &long_path,
        "../../etc/evil",
        "/abs/file",
        "link-out",
        "hard-out",
        &hostile_long,
    ];
    assert_eq!(names, want);

    let verbose = String::from_utf8(run_ok("tar", &["-tvPf", p(&f)])).unwrap();
    let line = |name: &str| {
        verbose.lines().find(|l| l.contains(name)).unwrap_or_else(|| panic!("{name} in\n{verbose}")).to_string()
    };
    assert!(line("usr/lib/libx.so").starts_with('l') && line("usr/lib/libx.so").ends_with("-> libx.so.1"));
    assert!(line("readme2").starts_with('h') && line("readme2").ends_with("link to usr/share/doc/readme"));
    assert!(line("link-out").ends_with("-> ../../../../etc/shadow"));
    assert!(line("hard-out").ends_with("link to /etc/passwd"));
    assert!(line("var/empty/").starts_with("drwxr-xr-x root/root"));
    assert!(verbose.lines().any(|l| l.starts_with("-rw-r--r-- root/root") && l.ends_with(" usr/share/doc/readme")));
    assert!(verbose.lines().all(|l| l.contains("root/root") && l.contains("1970-01-01")), "{verbose}");

    // GNU tar extracts the benign part and refuses/strips the hostile names.
    let root = tmp.path().join("root");
    fs::create_dir(&root).unwrap();
    let _ = run("tar", &["-xf", p(&f), "-C", p(&root)]);
    assert_eq!(fs::read(root.join("usr/share/doc/readme")).unwrap(), b"hello");
    assert_eq!(fs::read_link(root.join("usr/lib/libx.so")).unwrap(), Path::new("libx.so.1"));
    assert_eq!(fs::read(root.join(&long_path)).unwrap(), b"long");
    assert!(!tmp.path().join("etc/evil").exists());
}

#[test]
fn blobs_pass_gzip_zstd_and_sha256sum() {
    let tmp = tempfile::tempdir().unwrap();
    let entries = vec![Entry::file("etc/hostname", "box\n"), Entry::file("big", vec![42u8; 300_000])];
    for (c, tool) in [(Compression::None, None), (Compression::Gzip, Some("gzip")), (Compression::Zstd, Some("zstd"))] {
        let layer = Layer::new(c, entries.clone());
        let blob = layer.blob_bytes();
        assert_eq!(blob, layer.blob_bytes(), "deterministic {c:?}");
        let f = write_tmp(tmp.path(), &format!("{c:?}.blob"), &blob);
        assert_eq!(sha256sum(&f), sha256_digest(&blob));
        let tar = match tool {
            None => fs::read(&f).unwrap(),
            Some(t) => {
                run_ok(t, &["-q", "-t", p(&f)]);
                run_ok(t, &["-q", "-dc", p(&f)])
            }
        };
        assert_eq!(tar, layer.tar_bytes(), "{c:?} round trip");
        let t = write_tmp(tmp.path(), &format!("{c:?}.tar"), &tar);
        assert_eq!(tar_names(&t), ["etc/", "etc/hostname", "big"]);
    }
    assert_eq!(sha256_digest(b""), "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

#[test]
fn helpers_write_debian_files() {
    let s = dpkg_status_stanza("libc6", "2.36-9", "amd64", Some("glibc"), "install ok installed");
    assert!(s.starts_with("Package: libc6\nStatus: install ok installed\n"));
    assert!(s.contains("\nSource: glibc\nVersion: 2.36-9\n"));
    assert!(s.ends_with("\n\n"));
    assert!(!dpkg_status_stanza("a", "1", "all", None, "deinstall ok config-files").contains("Source:"));
    let o = os_release("debian", "12", "Debian GNU/Linux 12 (bookworm)");
    assert!(
        o.contains("\nID=debian\n")
            && o.contains("VERSION_ID=\"12\"")
            && o.contains("PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"")
    );
}

// ----------------------------------------------------------------------------------------------
// OCI layouts and archives
// ----------------------------------------------------------------------------------------------

#[test]
fn oci_layout_cross_references() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = sample_spec();
    let built = write_oci_layout(&[(&spec, Some("latest"))], tmp.path(), false);
    assert_eq!(built.len(), 1);
    let b = &built[0];
    assert_eq!(validate_layout(tmp.path()), std::slice::from_ref(&b.manifest_digest));
    assert_eq!(b.layer_media_types, [MT_OCI_LAYER, MT_OCI_LAYER_GZIP, MT_OCI_LAYER_ZSTD]);
    assert_eq!(b.platform, "linux/amd64");

    let index = read_json(&tmp.path().join("index.json"));
    let top = &index["manifests"][0];
    assert_eq!(index["manifests"].as_array().unwrap().len(), 1);
    assert_eq!(top["mediaType"], MT_OCI_MANIFEST);
    assert_eq!(top["digest"], b.manifest_digest.as_str());
    assert_eq!(top["annotations"][ANNOTATION_REF_NAME], "latest");
    assert_eq!(top["platform"], json!({"architecture": "amd64", "os": "linux"}));

    let m = read_json_blob(tmp.path(), &b.manifest_digest);
    assert_eq!(m["config"]["digest"], b.config_digest.as_str());
    let ls: Vec<&str> = m["layers"].as_array().unwrap().iter().map(|l| l["digest"].as_str().unwrap()).collect();
    assert_eq!(ls, b.layer_digests);

    let cfg = read_json_blob(tmp.path(), &b.config_digest);
    assert_eq!(cfg["config"]["User"], "root");
    assert_eq!(cfg["config"]["Env"][1], "SECRET_TOKEN=hunter2");
    assert_eq!(cfg["rootfs"]["diff_ids"], json!(b.diff_ids));
    assert_eq!(cfg["history"].as_array().unwrap().len(), 3);
    let diff_ids: Vec<String> = spec.layers.iter().map(|l| sha256_digest(&l.tar_bytes())).collect();
    assert_eq!(b.diff_ids, diff_ids);

    // Same input, same bytes.
    let tmp2 = tempfile::tempdir().unwrap();
    assert_eq!(write_oci_layout(&[(&spec, Some("latest"))], tmp2.path(), false), built);
}

#[test]
fn multi_arch_index_under_one_ref() {
    let tmp = tempfile::tempdir().unwrap();
    let amd = sample_spec();
    let arm = sample_spec().with_platform("linux", "arm64", Some("v8"));
    let other = ImageSpec::new(vec![Layer::gzip(vec![Entry::file("x", "y")])]);
    let built =
        write_oci_layout(&[(&amd, Some("multi")), (&arm, Some("multi")), (&other, Some("other"))], tmp.path(), true);
    assert_eq!(built.len(), 3);
    let found = validate_layout(tmp.path());
    assert_eq!(found.len(), 3);

    let index = read_json(&tmp.path().join("index.json"));
    let ms = index["manifests"].as_array().unwrap();
    assert_eq!(ms.len(), 2);
    assert_eq!(ms[0]["mediaType"], MT_OCI_INDEX);
    assert_eq!(ms[0]["annotations"][ANNOTATION_REF_NAME], "multi");
    assert_eq!(ms[1]["annotations"][ANNOTATION_REF_NAME], "other");
    let nested_digest = ms[0]["digest"].as_str().unwrap();
    assert_eq!(built[0].index_digest.as_deref(), Some(nested_digest));
    assert_eq!(built[1].index_digest.as_deref(), Some(nested_digest));
    let nested = read_json_blob(tmp.path(), nested_digest);
    assert_eq!(nested["mediaType"], MT_OCI_INDEX);
    let plats: Vec<&Value> = nested["manifests"].as_array().unwrap().iter().map(|m| &m["platform"]).collect();
    assert_eq!(
        plats,
        [
            &json!({"architecture": "amd64", "os": "linux"}),
            &json!({"architecture": "arm64", "os": "linux", "variant": "v8"})
        ]
    );
    assert_eq!(nested["manifests"][1]["digest"], built[1].manifest_digest.as_str());
    assert_eq!(built[1].platform, "linux/arm64/v8");
    assert_eq!(read_json_blob(tmp.path(), &built[1].config_digest)["variant"], "v8");
    // The two platforms share identical layers, so they share blobs.
    assert_eq!(built[0].layer_digests, built[1].layer_digests);
    assert_ne!(built[0].config_digest, built[1].config_digest);
}

#[test]
fn docker_schema2_manifests_in_a_layout() {
    let tmp = tempfile::tempdir().unwrap();
    let amd = ImageSpec::new(vec![Layer::gzip(vec![Entry::file("a", "1")]), Layer::plain(vec![Entry::file("b", "2")])]);
    let arm = amd.clone().with_platform("linux", "arm64", Some("v8"));
    let opts = LayoutOptions { as_index: true, format: ManifestFormat::Docker };
    let built = write_oci_layout_with(&[(&amd, Some("v1")), (&arm, Some("v1"))], tmp.path(), &opts);
    validate_layout(tmp.path());
    assert_eq!(built[0].manifest_media_type, MT_DOCKER_MANIFEST);
    assert_eq!(built[0].layer_media_types, [MT_DOCKER_LAYER_GZIP, MT_DOCKER_LAYER]);
    let index = read_json(&tmp.path().join("index.json"));
    assert_eq!(index["manifests"][0]["mediaType"], MT_DOCKER_LIST);
    let list = read_json_blob(tmp.path(), built[0].index_digest.as_ref().unwrap());
    assert_eq!(list["mediaType"], MT_DOCKER_LIST);
}

#[test]
fn oci_archive_is_a_tar_of_the_layout() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("img.tar");
    let spec = sample_spec();
    let built = write_oci_archive(&[(&spec, Some("v1"))], &archive, false);
    let names = tar_names(&archive);
    assert!(names.contains(&"oci-layout".to_string()));
    assert!(names.contains(&"index.json".to_string()));
    assert!(names.contains(&"blobs/sha256/".to_string()));
    assert!(names.contains(&format!("blobs/sha256/{}", digest_hex(&built[0].manifest_digest))));
    let out = tmp.path().join("x");
    fs::create_dir(&out).unwrap();
    run_ok("tar", &["-xf", p(&archive), "-C", p(&out)]);
    assert_eq!(validate_layout(&out), std::slice::from_ref(&built[0].manifest_digest));
}

// ----------------------------------------------------------------------------------------------
// docker save archives
// ----------------------------------------------------------------------------------------------

#[test]
fn docker_archive_classic() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("save.tar");
    let spec = sample_spec();
    let b = write_docker_archive(&spec, &["example/app:1.0", "example/app:latest"], &archive);
    let out = tmp.path().join("x");
    fs::create_dir(&out).unwrap();
    run_ok("tar", &["-xf", p(&archive), "-C", p(&out)]);
    let mf = read_json(&out.join("manifest.json"));
    let entries = mf.as_array().unwrap();
    assert_eq!(entries.len(), 1);
    let e = &entries[0];
    assert_eq!(e["RepoTags"], json!(["example/app:1.0", "example/app:latest"]));
    let cfg_name = e["Config"].as_str().unwrap();
    assert_eq!(cfg_name, format!("{}.json", digest_hex(&b.config_digest)));
    assert_eq!(sha256sum(&out.join(cfg_name)), b.config_digest);
    let cfg = read_json(&out.join(cfg_name));
    check_config(&cfg);
    let layers: Vec<&str> = e["Layers"].as_array().unwrap().iter().map(|l| l.as_str().unwrap()).collect();
    assert_eq!(layers.len(), 3);
    for ((l, diff_id), layer) in layers.iter().zip(&b.diff_ids).zip(&spec.layers) {
        assert!(l.ends_with("/layer.tar"), "{l}");
        let f = out.join(l);
        assert_eq!(&sha256sum(&f), diff_id, "layer.tar is the uncompressed layer");
        assert_eq!(fs::read(&f).unwrap(), layer.tar_bytes());
        tar_names(&f);
        let dir = f.parent().unwrap();
        assert_eq!(fs::read_to_string(dir.join("VERSION")).unwrap(), "1.0");
        assert!(read_json(&dir.join("json"))["id"].is_string());
    }
    assert_eq!(cfg["rootfs"]["diff_ids"], json!(b.diff_ids));
    let repos = read_json(&out.join("repositories"));
    assert!(repos["example/app"]["1.0"].is_string());
}

#[test]
fn docker_archive_docker25_layout() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("save25.tar");
    let spec = ImageSpec::new(vec![
        Layer::plain(vec![Entry::file("etc/os-release", os_release("alpine", "3.19.1", "Alpine Linux v3.19"))]),
        Layer::plain(vec![Entry::whiteout("etc/motd")]),
    ]);
    let b = write_docker_archive_oci(&spec, &["busybox:1.36"], &archive);
    let out = tmp.path().join("x");
    fs::create_dir(&out).unwrap();
    run_ok("tar", &["-xf", p(&archive), "-C", p(&out)]);
    assert_eq!(validate_layout(&out), std::slice::from_ref(&b.manifest_digest));
    let index = read_json(&out.join("index.json"));
    let a = &index["manifests"][0]["annotations"];
    assert_eq!(a[ANNOTATION_REF_NAME], "1.36");
    assert_eq!(a[ANNOTATION_CONTAINERD_NAME], "docker.io/library/busybox:1.36");
    let e = &read_json(&out.join("manifest.json"))[0];
    assert_eq!(e["Config"], format!("blobs/sha256/{}", digest_hex(&b.config_digest)));
    assert_eq!(e["RepoTags"], json!(["busybox:1.36"]));
    let layers: Vec<String> = b.layer_digests.iter().map(|d| format!("blobs/sha256/{}", digest_hex(d))).collect();
    assert_eq!(e["Layers"], json!(layers));
    for l in &layers {
        let names = tar_names(&out.join(l));
        assert!(!names.is_empty());
    }
    assert_eq!(b.layer_media_types, [MT_OCI_LAYER, MT_OCI_LAYER]);
    assert_eq!(b.layer_digests, b.diff_ids, "uncompressed layers: blob digest = diff_id");
}

// ----------------------------------------------------------------------------------------------
// tampering
// ----------------------------------------------------------------------------------------------

#[test]
fn tampering_helpers() {
    let spec = sample_spec();

    // corrupt: same size, digest mismatch
    let t = tempfile::tempdir().unwrap();
    let b = &write_oci_layout(&[(&spec, Some("t"))], t.path(), false)[0];
    let victim = &b.layer_digests[1];
    let size = fs::metadata(blob_path(t.path(), victim)).unwrap().len();
    corrupt_blob(t.path(), victim);
    assert_eq!(fs::metadata(blob_path(t.path(), victim)).unwrap().len(), size);
    assert_ne!(&sha256sum(&blob_path(t.path(), victim)), victim);

    // missing blob
    let t = tempfile::tempdir().unwrap();
    let b = &write_oci_layout(&[(&spec, Some("t"))], t.path(), false)[0];
    remove_blob(t.path(), &b.layer_digests[0]);
    assert!(!blob_path(t.path(), &b.layer_digests[0]).exists());
    assert!(layout_descriptors(t.path()).iter().any(|(_, d, _)| d == &b.layer_digests[0]));

    // unknown layer media type, in a nested index: every level re-pointed and consistent
    let t = tempfile::tempdir().unwrap();
    let arm = spec.clone().with_platform("linux", "arm64", Some("v8"));
    let built = write_oci_layout(&[(&spec, Some("t")), (&arm, Some("t"))], t.path(), true);
    let new = set_layer_media_type(t.path(), &built[1].manifest_digest, 0, "application/vnd.example.unknown");
    assert_ne!(new, built[1].manifest_digest);
    let descs = layout_descriptors(t.path());
    assert!(descs.iter().any(|(mt, _, _)| mt == "application/vnd.example.unknown"));
    assert!(descs.iter().any(|(_, d, _)| d == &new));
    assert!(!descs.iter().any(|(_, d, _)| d == &built[1].manifest_digest));
    for (_, d, s) in &descs {
        assert_eq!(&sha256sum(&blob_path(t.path(), d)), d);
        assert_eq!(fs::metadata(blob_path(t.path(), d)).unwrap().len(), *s);
    }

    // truncated compressed layers with matching descriptors: only the decoder can tell
    let t = tempfile::tempdir().unwrap();
    let b = &write_oci_layout(&[(&spec, Some("t"))], t.path(), false)[0];
    let m1 = truncate_layer(t.path(), &b.manifest_digest, 1, b.layer_sizes[1] as usize / 2);
    let m2 = truncate_layer(t.path(), &m1, 2, b.layer_sizes[2] as usize / 2);
    let m = read_json_blob(t.path(), &m2);
    for (i, tool) in [(1, "gzip"), (2, "zstd")] {
        let d = m["layers"][i]["digest"].as_str().unwrap();
        let f = blob_path(t.path(), d);
        assert_eq!(sha256sum(&f), d);
        assert_eq!(m["layers"][i]["size"], fs::metadata(&f).unwrap().len());
        assert!(!run(tool, &["-q", "-t", p(&f)]).status.success(), "{tool} -t must reject a truncated stream");
    }
    assert_eq!(read_json(&t.path().join("index.json"))["manifests"][0]["digest"], m2.as_str());

    // config whose diff_ids do not match the layers
    let t = tempfile::tempdir().unwrap();
    let b = &write_oci_layout(&[(&spec, Some("t"))], t.path(), false)[0];
    let bad = format!("sha256:{}", "0".repeat(64));
    let m = rewrite_config(t.path(), &b.manifest_digest, |c| c["rootfs"]["diff_ids"][0] = json!(bad));
    let cfg_digest = read_json_blob(t.path(), &m)["config"]["digest"].as_str().unwrap().to_string();
    assert_eq!(sha256sum(&blob_path(t.path(), &cfg_digest)), cfg_digest);
    assert_eq!(read_json_blob(t.path(), &cfg_digest)["rootfs"]["diff_ids"][0], bad.as_str());

    // tampered layout -> oci-archive
    let archive = t.path().join("tampered.tar");
    tar_dir(t.path(), &archive);
    assert!(tar_names(&archive).contains(&format!("blobs/sha256/{}", digest_hex(&m))));
}

// ----------------------------------------------------------------------------------------------
// skopeo (independent implementation of the transports), when installed
// ----------------------------------------------------------------------------------------------

fn skopeo_json(args: &[&str]) -> Value {
    serde_json::from_slice(&run_ok("skopeo", args)).unwrap()
}

#[test]
fn skopeo_reads_oci_layouts_and_archives() {
    if !skopeo() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let spec = sample_spec();

    // oci:DIR:ref
    let dir = tmp.path().join("layout");
    let b = &write_oci_layout(&[(&spec, Some("latest"))], &dir, false)[0];
    let target = format!("oci:{}:latest", p(&dir));
    let i = skopeo_json(&["inspect", &target]);
    assert_eq!(i["Digest"], b.manifest_digest.as_str());
    assert_eq!(i["Layers"], json!(b.layer_digests));
    assert_eq!(i["Architecture"], "amd64");
    assert_eq!(i["Os"], "linux");
    assert_eq!(i["Env"][1], "SECRET_TOKEN=hunter2");
    let cfg = skopeo_json(&["inspect", "--config", &target]);
    assert_eq!(cfg["rootfs"]["diff_ids"], json!(b.diff_ids));
    // A copy reads and verifies every blob.
    let copy = tmp.path().join("copy");
    run_ok("skopeo", &["copy", "-q", &target, &format!("dir:{}", p(&copy))]);

    // multi-arch under one ref, nested index
    let dir = tmp.path().join("multi");
    let arm = spec.clone().with_platform("linux", "arm64", Some("v8"));
    let built = write_oci_layout(&[(&spec, Some("multi")), (&arm, Some("multi"))], &dir, true);
    let target = format!("oci:{}:multi", p(&dir));
    let raw = run_ok("skopeo", &["inspect", "--raw", &target]);
    assert_eq!(sha256_digest(&raw), built[0].index_digest.clone().unwrap());
    let i = skopeo_json(&["--override-arch", "arm64", "--override-variant", "v8", "inspect", "--config", &target]);
    assert_eq!(i["architecture"], "arm64");
    assert_eq!(i["variant"], "v8");
    let i = skopeo_json(&["--override-arch", "amd64", "inspect", "--config", &target]);
    assert_eq!(i["architecture"], "amd64");
    let copy = tmp.path().join("copy-multi");
    run_ok("skopeo", &["copy", "-q", "--all", &target, &format!("oci:{}:m", p(&copy))]);

    // oci-archive:PATH
    let archive = tmp.path().join("img.oci.tar");
    let b = &write_oci_archive(&[(&spec, Some("v1"))], &archive, false)[0];
    let i = skopeo_json(&["inspect", &format!("oci-archive:{}:v1", p(&archive))]);
    assert_eq!(i["Digest"], b.manifest_digest.as_str());
    assert_eq!(i["Layers"], json!(b.layer_digests));

    // (Docker schema 2 manifests inside an OCI layout are not checked here: skopeo 1.9's oci:
    // transport only resolves OCI manifest/index descriptors.)
}

#[test]
fn skopeo_reads_docker_archives() {
    if !skopeo() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let spec = sample_spec();

    let archive = tmp.path().join("classic.tar");
    let b = write_docker_archive(&spec, &["example/app:1.0"], &archive);
    let target = format!("docker-archive:{}", p(&archive));
    let i = skopeo_json(&["inspect", &target]);
    assert_eq!(i["Layers"], json!(b.diff_ids));
    assert_eq!(i["RepoTags"], json!([]), "skopeo lists registry tags only");
    let raw = run_ok("skopeo", &["inspect", "--raw", &target]);
    assert_eq!(sha256_digest(&raw), b.manifest_digest, "synthesized manifest: {}", String::from_utf8_lossy(&raw));
    assert_eq!(i["Digest"], b.manifest_digest.as_str());
    let cfg = skopeo_json(&["inspect", "--config", &target]);
    assert_eq!(cfg["rootfs"]["diff_ids"], json!(b.diff_ids));
    let copy = tmp.path().join("copy");
    run_ok("skopeo", &["copy", "-q", &target, &format!("oci:{}:x", p(&copy))]);
    validate_layout(&copy);

    let archive = tmp.path().join("docker25.tar");
    let b = write_docker_archive_oci(&spec, &["example/app:2.0"], &archive);
    let target = format!("docker-archive:{}", p(&archive));
    let i = skopeo_json(&["inspect", &target]);
    assert_eq!(i["Layers"].as_array().unwrap().len(), 3);
    let cfg = skopeo_json(&["inspect", "--config", &target]);
    assert_eq!(cfg["rootfs"]["diff_ids"], json!(b.diff_ids));
    let copy = tmp.path().join("copy25");
    run_ok("skopeo", &["copy", "-q", &target, &format!("oci:{}:x", p(&copy))]);
    // The same archive is also a valid OCI layout (what Docker 25+ intends).
    let out = tmp.path().join("x25");
    fs::create_dir(&out).unwrap();
    run_ok("tar", &["-xf", p(&archive), "-C", p(&out)]);
    let i = skopeo_json(&["inspect", &format!("oci:{}:2.0", p(&out))]);
    assert_eq!(i["Digest"], b.manifest_digest.as_str());
}

#[test]
fn skopeo_rejects_tampered_blobs() {
    if !skopeo() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let spec = sample_spec();
    let dir = tmp.path().join("layout");
    let b = &write_oci_layout(&[(&spec, Some("t"))], &dir, false)[0];
    corrupt_blob(&dir, &b.layer_digests[1]);
    let o =
        run("skopeo", &["copy", "-q", &format!("oci:{}:t", p(&dir)), &format!("dir:{}", p(&tmp.path().join("c1")))]);
    assert!(!o.status.success(), "skopeo must reject a corrupted blob");

    let dir = tmp.path().join("layout2");
    let b = &write_oci_layout(&[(&spec, Some("t"))], &dir, false)[0];
    remove_blob(&dir, &b.layer_digests[0]);
    let o =
        run("skopeo", &["copy", "-q", &format!("oci:{}:t", p(&dir)), &format!("dir:{}", p(&tmp.path().join("c2")))]);
    assert!(!o.status.success(), "skopeo must reject a missing blob");
}
