//! Valid requests, each filled the way a caller fills it; tests change one field at a time.
use etc_esign::grpc::pb;

use super::{ID_NUMBER, MOBILE};

pub fn face_request(member: &str) -> pb::StartFaceAuthRequest {
    pb::StartFaceAuthRequest {
        etc_member_no: member.into(),
        name: "张三".into(),
        id_number: ID_NUMBER.into(),
        mobile: MOBILE.into(),
        valid_period: "2019.01.01-2039.01.01".into(),
        redirect_url: "https://etc.example.com/face/done".into(),
        face_auth_mode: 0,
    }
}

/// The contact mobile `create_request` sends.
pub const CONTACT: &str = "15300001111";

pub fn create_request(member: &str, request_id: &str) -> pb::CreateOrgAuthorizationRequest {
    pb::CreateOrgAuthorizationRequest {
        etc_member_no: member.into(),
        request_id: request_id.into(),
        // The member's own company (the only one it may authorize).
        organize_id: String::new(),
        contact: CONTACT.into(),
        send_notice: None,
        auth_type: pb::AuthType::Platform as i32,
        handler_person_id: String::new(),
        // Fixed: "now + 1 year" could tick over between a request and its retry with the same id.
        valid_date: Some(prost_types::Timestamp { seconds: 2556057600, nanos: 0 }), // 2050-12-31
        seal_scope: "合同专用章".into(),
        file_type: "物流条款".into(),
        redirect_url: "https://etc.example.com/auth/done".into(),
    }
}

pub fn sms_request(member: &str) -> pb::StartSmsAuthRequest {
    pb::StartSmsAuthRequest {
        etc_member_no: member.into(),
        name: "张三".into(),
        id_number: ID_NUMBER.into(),
        mobile: MOBILE.into(),
        valid_period: "2019.01.01-2039.01.01".into(),
    }
}

/// The credit code of the test company (房友科技有限公司).
pub const CREDIT_CODE: &str = "91350100M000100Y43";

/// StartOrgAuth for a company whose legal person is the test handler (张三, `ID_NUMBER`).
pub fn legal_person_request(member: &str) -> pb::StartOrgAuthRequest {
    pb::StartOrgAuthRequest {
        etc_member_no: member.into(),
        name: "房友科技有限公司".into(),
        id_type: pb::OrgIdType::Uscc as i32,
        id_number: CREDIT_CODE.into(),
        org_legal_name: "张三".into(),
        org_legal_id_number: ID_NUMBER.into(),
        profile: Some(pb::OrgProfile {
            org_abbreviation: "房友".into(),
            org_contact: "64828319231".into(),
            location: "上海市".into(),
            address: "静安区广中路888号秋实楼".into(),
            valid_period: "2020年01月01日至2035年01月01日".into(),
            org_type: "1111111".into(),
            contact_name: "李四".into(),
            contact_mobile: "13021221998".into(),
        }),
    }
}

/// CreateOrgSeal with a template seal (red, round, a star).
pub fn seal_request(member: &str, alias: &str) -> pb::CreateOrgSealRequest {
    pb::CreateOrgSealRequest {
        etc_member_no: member.into(),
        template: Some(pb::SealTemplate {
            alias: alias.into(),
            color: pb::SealColor::Red as i32,
            r#type: pb::SealType::TemplateRound as i32,
            central: pb::SealCentral::Star as i32,
            htext: "合同专用章".into(),
            qtext: "3101000000001".into(),
            width: 0,
            height: 0,
        }),
    }
}
