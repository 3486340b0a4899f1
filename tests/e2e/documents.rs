//! Documents end to end: RecognizeIdCard and RecognizeBusinessLicense through the simulator's OCR,
//! the pictures kept encrypted (a marker embedded in each test picture never appears in the object
//! store), thumbnails, the detail's signed links read back byte for byte, tampered and expired
//! links, bad pictures, a card of someone else, OCR refusals and key rotation.
use std::path::Path;
use std::time::Duration;

use etc_esign::files::LinkSigner;
use etc_esign::grpc::pb;
use etc_esign::sim::ocr::SimOcr;
use object_store::{ObjectStore, ObjectStoreExt};
use secrecy::SecretString;
use tonic::Code;
use tonic_types::StatusExt;

use crate::helpers::*;

fn data(name: &str) -> Vec<u8> {
    std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data").join(name)).expect("test picture")
}

/// The `ETC-TEST-MARKER-…` string embedded in a test picture's PNG text chunk.
fn marker(picture: &[u8]) -> Vec<u8> {
    let at = picture.windows(16).position(|w| w == b"ETC-TEST-MARKER-").expect("the picture carries a marker");
    picture[at..].iter().take_while(|b| b.is_ascii_graphic()).copied().collect()
}

/// Every file under `dir`, recursively.
fn files_under(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else { return out };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out
}

fn assert_no_readable_picture(dir: &Path, pictures: &[&[u8]]) {
    for file in files_under(dir) {
        let bytes = std::fs::read(&file).expect("object");
        for p in pictures {
            let m = marker(p);
            assert!(!bytes.windows(m.len()).any(|w| w == m.as_slice()), "{} holds a readable picture", file.display());
        }
    }
}

fn card_request(member: &str) -> pb::RecognizeIdCardRequest {
    pb::RecognizeIdCardRequest {
        etc_member_no: member.into(),
        info_img: data("idcard-front.png"),
        emblem_img: data("idcard-back.png"),
    }
}

async fn recognize_card(app: &TestApp, member: &str) -> Result<pb::RecognizeIdCardResponse, tonic::Status> {
    let mut c = app.client.clone();
    c.recognize_id_card(authed(card_request(member))).await.map(tonic::Response::into_inner)
}

async fn fetch(url: &str) -> reqwest::Response {
    reqwest::get(url).await.expect("the link answers")
}

#[tokio::test]
async fn recognize_id_card_keeps_encrypted_pictures_served_byte_for_byte_through_the_details_links() {
    let app = spawn_app().await;
    let member = "ETC000001901";
    let mut declared = face_request(member);
    declared.valid_period = "2020.05.06-2040.05.06".into();
    app.client.clone().start_face_auth(authed(declared)).await.expect("StartFaceAuth");

    let read = recognize_card(&app, member).await.expect("RecognizeIdCard");
    assert_eq!(read.id_number, "110***********002X");
    assert_eq!(read.valid_period, "2019.01.01-2039.01.01");

    let detail = app.process(member).await;
    let info = detail.indiv_ocr_info.expect("indiv_ocr_info");
    assert_eq!(info.valid_period, "2019.01.01-2039.01.01", "the card wins over what StartFaceAuth declared");
    let images = info.cert_image.expect("cert_image");
    let front = fetch(&images.front_url).await;
    assert_eq!(front.status(), 200);
    let headers = front.headers().clone();
    assert_eq!(headers["content-type"], "image/png");
    let cache = headers["cache-control"].to_str().expect("ascii");
    let max_age: u64 = cache.strip_prefix("private, max-age=").expect(cache).parse().expect("seconds");
    assert!(max_age > 0 && max_age <= 900, "{cache}");
    let etag = headers["etag"].to_str().expect("ascii").to_owned();
    let again = reqwest::Client::new()
        .get(&images.front_url)
        .header("if-none-match", &etag)
        .send()
        .await
        .expect("the link answers");
    assert_eq!(again.status(), 304, "the ETag names the picture");
    assert_eq!(front.bytes().await.expect("body").as_ref(), data("idcard-front.png").as_slice(), "byte for byte");
    let back = fetch(&images.back_url).await.bytes().await.expect("body");
    assert_eq!(back.as_ref(), data("idcard-back.png").as_slice());

    for thumb in [&images.thumbnail_front_url, &images.thumbnail_back_url] {
        let answer = fetch(thumb).await;
        assert_eq!(answer.headers()["content-type"], "image/png");
        let img = image::load_from_memory(&answer.bytes().await.expect("body")).expect("a picture");
        assert_eq!((img.width(), img.height()), (200, 200), "scaled to 200 on the shorter side, centre-cropped");
    }
    let original = image::load_from_memory(&data("idcard-front.png")).expect("picture").to_rgb8();
    let thumb = image::load_from_memory(&fetch(&images.thumbnail_front_url).await.bytes().await.expect("body"))
        .expect("picture")
        .to_rgb8();
    // 428x270 scaled by 200/270, cropped in the middle: the centre pixel shows the original's centre.
    let (a, b) = (original.get_pixel(214, 135), thumb.get_pixel(100, 100));
    assert!(a.0.iter().zip(b.0).all(|(x, y)| x.abs_diff(y) < 48), "{a:?} vs {b:?}");

    assert_no_readable_picture(app.objects.path(), &[&data("idcard-front.png"), &data("idcard-back.png")]);
    assert_eq!(files_under(app.objects.path()).len(), 4, "two originals, two thumbnails");
    app.finish().await;
}

#[tokio::test]
async fn picture_links_are_forbidden_when_tampered_with_or_expired() {
    let logs = capture_logs();
    let app = spawn_app().await;
    let member = "ETC000001902";
    app.start_face(member).await;
    recognize_card(&app, member).await.expect("RecognizeIdCard");
    let images = app.process(member).await.indiv_ocr_info.and_then(|i| i.cert_image).expect("cert_image");

    let (path_and_query, _) = (images.front_url.clone(), ());
    let tampered_sig = format!("{}0", path_and_query);
    let other_object = images.front_url.replace("idcard-front", "idcard-back");
    let exp_at = images.front_url.find("exp=").expect("exp") + 4;
    let mut later = images.front_url.clone();
    later.insert(exp_at, '9');
    let unsigned = images.front_url.split('?').next().expect("path").to_owned();
    for url in [&tampered_sig, &other_object, &later, &unsigned] {
        assert_eq!(fetch(url).await.status(), 403, "{url}");
    }
    let signer = LinkSigner::new(
        SecretString::from(FILE_LINK_KEY),
        &format!("http://{}", app.http_addr),
        Duration::from_secs(900),
    );
    let object = unsigned.split("/files/").nth(1).expect("object key");
    let expired = signer.mint(object, chrono::Utc::now() - chrono::Duration::seconds(901));
    assert_eq!(fetch(&expired).await.status(), 403, "expired");
    let fresh = signer.mint(object, chrono::Utc::now());
    assert_eq!(fetch(&fresh).await.status(), 200, "the same object through a good link");

    let text = logs.lines().iter().map(ToString::to_string).collect::<String>();
    assert!(text.contains("file link refused"), "refusals are logged");
    assert!(!text.contains(FILE_LINK_KEY), "the link key is never logged");
    app.finish().await;
}

#[tokio::test]
async fn recognize_id_card_refuses_oversized_and_non_image_pictures_and_keeps_nothing() {
    let app = spawn_app().await;
    let member = "ETC000001903";
    app.start_face(member).await;
    let mut oversized = data("idcard-back.png");
    oversized.resize(3 * 1024 * 1024 + 1, 0);
    let mut c = app.client.clone();
    let req = pb::RecognizeIdCardRequest {
        etc_member_no: member.into(),
        info_img: b"%PDF-1.7 not a picture".to_vec(),
        emblem_img: oversized,
    };
    let err = c.recognize_id_card(authed(req)).await.expect_err("refused");
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
    let fields: Vec<String> =
        err.get_details_bad_request().expect("violations").field_violations.into_iter().map(|v| v.field).collect();
    assert_eq!(fields, ["info_img", "emblem_img"]);
    let mut truncated = data("licence.png");
    truncated.truncate(100);
    let err = c
        .recognize_business_license(authed(pb::RecognizeBusinessLicenseRequest {
            etc_member_no: member.into(),
            img: truncated,
        }))
        .await
        .expect_err("refused");
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(files_under(app.objects.path()).is_empty(), "nothing kept");
    assert!(app.process(member).await.indiv_ocr_info.and_then(|i| i.cert_image).is_none());
    app.finish().await;
}

#[tokio::test]
async fn recognize_id_card_is_failed_precondition_and_keeps_nothing_when_the_card_is_someone_elses() {
    let app = spawn_app().await;
    let member = "ETC000001904";
    let err = recognize_card(&app, member).await.expect_err("no handler yet");
    assert_eq!(err.code(), Code::FailedPrecondition, "{err:?}");
    app.start_face(member).await;
    app.sim.set_ocr(
        &data("idcard-front.png"),
        SimOcr::IdCard {
            name: "李四".into(),
            id_no: "110101199003070035".into(),
            validity_period: "2019.01.01-2039.01.01".into(),
        },
    );
    let err = recognize_card(&app, member).await.expect_err("another person's card");
    assert_eq!(err.code(), Code::FailedPrecondition, "{err:?}");
    assert!(!err.message().contains("110101199003070035"), "no identity number in a message");
    assert!(files_under(app.objects.path()).is_empty(), "nothing kept");
    let info = app.process(member).await.indiv_ocr_info.expect("declared handler");
    assert_eq!((info.cert_image, info.valid_period.as_str()), (None, "2019.01.01-2039.01.01"));
    app.finish().await;
}

#[tokio::test]
async fn ocr_refusals_answer_their_code_and_keep_nothing() {
    let app = spawn_app().await;
    let member = "ETC000001905";
    app.start_face(member).await;
    for code in [30503129, 30503127] {
        app.sim.set_ocr(&data("idcard-front.png"), SimOcr::Refuse { code });
        let err = recognize_card(&app, member).await.expect_err("refused");
        assert_eq!(err.code(), Code::FailedPrecondition);
        let info = err.get_error_details().error_info().expect("error info").clone();
        assert_eq!(info.metadata.get("code"), Some(&code.to_string()));
    }
    app.sim.set_ocr(&data("licence.png"), SimOcr::Refuse { code: 30503127 });
    let mut c = app.client.clone();
    let err = c
        .recognize_business_license(authed(pb::RecognizeBusinessLicenseRequest {
            etc_member_no: member.into(),
            img: data("licence.png"),
        }))
        .await
        .expect_err("refused");
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert!(files_under(app.objects.path()).is_empty(), "nothing kept");
    app.finish().await;
}

#[tokio::test]
async fn recognize_business_license_answers_the_address_period_and_links_in_the_detail() {
    let app = spawn_app().await;
    let member = "ETC000001906";
    let mut c = app.client.clone();
    let read = c
        .recognize_business_license(authed(pb::RecognizeBusinessLicenseRequest {
            etc_member_no: member.into(),
            img: data("licence.png"),
        }))
        .await
        .expect("RecognizeBusinessLicense")
        .into_inner();
    assert_eq!((read.cert_no.as_str(), read.valid_period.as_str()), ("91350100M000100Y43", "2015.01.05-长期"));
    let org = app.process(member).await.org_ocr_info.expect("org_ocr_info");
    assert_eq!(org.address, "上海市浦东新区世纪大道100号");
    assert_eq!(org.valid_period, "2015.01.05-长期");
    let images = org.cert_image.expect("cert_image");
    assert_eq!(fetch(&images.front_url).await.bytes().await.expect("body").as_ref(), data("licence.png").as_slice());
    let thumb = image::load_from_memory(&fetch(&images.thumbnail_front_url).await.bytes().await.expect("body"))
        .expect("picture");
    assert_eq!((thumb.width(), thumb.height()), (200, 200));
    assert_no_readable_picture(app.objects.path(), &[&data("licence.png")]);
    app.finish().await;
}

#[tokio::test]
async fn pictures_kept_before_a_key_rotation_are_served_after_it() {
    let mut app = spawn_app().await;
    let member = "ETC000001907";
    app.start_face(member).await;
    recognize_card(&app, member).await.expect("RecognizeIdCard");

    // A new current key, the old one still listed: old pictures open, new ones use the new key.
    app.config.data_keys =
        etc_esign::store::cipher::parse_keys(&format!("t2=AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=,{DATA_KEYS}"))
            .expect("keys");
    app.restart().await;
    let images = app.process(member).await.indiv_ocr_info.and_then(|i| i.cert_image).expect("cert_image");
    let front = fetch(&images.front_url).await.bytes().await.expect("body");
    assert_eq!(front.as_ref(), data("idcard-front.png").as_slice());
    recognize_card(&app, member).await.expect("RecognizeIdCard again, under the new key");
    let newest = app.process(member).await.indiv_ocr_info.and_then(|i| i.cert_image).expect("cert_image");

    // Without the old key the old picture no longer opens; the new one does.
    app.config.data_keys =
        etc_esign::store::cipher::parse_keys("t2=AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=").expect("keys");
    app.restart().await;
    let signer = LinkSigner::new(
        SecretString::from(FILE_LINK_KEY),
        &format!("http://{}", app.http_addr),
        Duration::from_secs(900),
    );
    let object = |url: &str| url.split("/files/").nth(1).and_then(|r| r.split('?').next()).expect("key").to_owned();
    let old = signer.mint(&object(&images.front_url), chrono::Utc::now());
    assert_eq!(fetch(&old).await.status(), 500, "the old key is gone");
    let new = signer.mint(&object(&newest.front_url), chrono::Utc::now());
    assert_eq!(fetch(&new).await.status(), 200);
    app.finish().await;
}

/// The S3 path against a real S3-compatible server (`.ci/run` starts moto's and names it in
/// `ETC_ESIGN_TEST_S3`); without one the test says that it skipped.
#[tokio::test]
async fn pictures_in_an_s3_bucket_are_encrypted_and_served_through_the_links() {
    let Some(endpoint) = std::env::var("ETC_ESIGN_TEST_S3").ok().filter(|e| !e.is_empty()) else {
        eprintln!("skipped: ETC_ESIGN_TEST_S3 names no S3-compatible server (.ci/run starts one)");
        return;
    };
    let endpoint = endpoint.trim_end_matches('/').to_owned();
    let bucket = format!("etc-esign-test-{:016x}", rand::random::<u64>());
    let created =
        reqwest::Client::new().put(format!("{endpoint}/{bucket}")).send().await.expect("the S3 server answers");
    assert!(created.status().is_success(), "bucket created: {}", created.status());

    let app = spawn_app_with(|c| {
        c.files.object_store_url = format!("s3://{bucket}/pictures");
        c.files.s3 = etc_esign::config::S3Settings {
            region: Some("us-east-1".into()),
            endpoint_url: Some(endpoint.clone()),
            access_key_id: Some("testing".into()),
            secret_access_key: Some("testing".into()),
        };
    })
    .await;
    let member = "ETC000001908";
    app.start_face(member).await;
    recognize_card(&app, member).await.expect("RecognizeIdCard into the bucket");
    let images = app.process(member).await.indiv_ocr_info.and_then(|i| i.cert_image).expect("cert_image");
    assert_eq!(
        fetch(&images.front_url).await.bytes().await.expect("body").as_ref(),
        data("idcard-front.png").as_slice()
    );
    let thumb = image::load_from_memory(&fetch(&images.thumbnail_back_url).await.bytes().await.expect("body"))
        .expect("picture");
    assert_eq!((thumb.width(), thumb.height()), (200, 200));

    // What the bucket holds, read with the server's own credentials.
    let bucket_store = object_store::aws::AmazonS3Builder::new()
        .with_bucket_name(&bucket)
        .with_region("us-east-1")
        .with_endpoint(&endpoint)
        .with_allow_http(true)
        .with_access_key_id("testing")
        .with_secret_access_key("testing")
        .build()
        .expect("a client of the bucket");
    let listed: Vec<_> = futures::StreamExt::collect::<Vec<_>>(bucket_store.list(None)).await;
    let keys: Vec<object_store::path::Path> = listed.into_iter().map(|m| m.expect("listed").location).collect();
    assert_eq!(keys.len(), 4, "two pictures and two thumbnails: {keys:?}");
    for key in &keys {
        assert!(key.as_ref().starts_with("pictures/ETC000001908/"), "under the URL's prefix: {key}");
        let object = bucket_store.get(key).await.expect("get").bytes().await.expect("bytes");
        assert!(object.starts_with(b"v1:t1:"), "{key} is sealed with the data key");
        for m in [marker(&data("idcard-front.png")), marker(&data("idcard-back.png"))] {
            assert!(!object.windows(m.len()).any(|w| w == m.as_slice()), "{key} holds a readable picture");
        }
    }
    assert!(files_under(app.objects.path()).is_empty(), "nothing under the local directory");
    app.finish().await;
}

#[tokio::test]
async fn a_card_period_read_in_the_chinese_form_is_answered_in_the_dotted_form() {
    let app = spawn_app().await;
    let member = "ETC000001909";
    app.start_face(member).await;
    app.sim.set_ocr(
        &data("idcard-front.png"),
        SimOcr::IdCard {
            name: "张三".into(), id_no: ID_NUMBER.into(), validity_period: "2019年01月01日至长期".into()
        },
    );
    let read = recognize_card(&app, member).await.expect("RecognizeIdCard");
    assert_eq!(read.valid_period, "2019.01.01-长期");
    assert_eq!(app.process(member).await.indiv_ocr_info.expect("info").valid_period, "2019.01.01-长期");
    app.finish().await;
}
