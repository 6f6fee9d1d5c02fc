//! Organizations (5): roles and the permission table, members, invitations, signatories,
//! agreements and the passkey policy.

use charter::http::policy::{self, OrgRule};
use charter::orgs::permissions::{self, Role};
use reqwest::Method;
use serde_json::{Value, json};

use crate::soft_passkey::SoftAuthenticator;
use crate::support::{ORIGIN, TestApp, User};

#[tokio::test]
async fn organizations_are_created_read_updated_and_deleted() {
    let app = TestApp::spawn().await;
    let owner = app.sign_in("owner@example.com").await;
    let stranger = app.sign_in("stranger@example.com").await;
    let res = app
        .post_as(
            &owner.token,
            "/v1/orgs",
            &json!({"name": "  Acme  ", "country": "de"}),
        )
        .await;
    let org = res.assert_status(201).clone();
    assert_eq!(
        (org["name"].as_str(), org["country"].as_str()),
        (Some("Acme"), Some("DE"))
    );
    assert!(org["id"].as_str().unwrap().starts_with("org_"));
    let id = org["id"].as_str().unwrap();

    let res = app
        .post_as(
            &owner.token,
            "/v1/orgs",
            &json!({"name": "", "country": "DE"}),
        )
        .await;
    assert_eq!(res.assert_problem(400002)["errors"][0]["field"], "name");
    app.post_as(
        &owner.token,
        "/v1/orgs",
        &json!({"name": "X", "country": "Germany"}),
    )
    .await
    .assert_problem(400002);

    let mine = app.get_as(&owner.token, "/v1/orgs").await;
    let mine = mine.assert_status(200);
    assert_eq!(mine["total"], 1);
    assert_eq!(mine["items"][0]["role"], "owner");
    assert_eq!(
        app.get_as(&stranger.token, "/v1/orgs").await.json["total"],
        0
    );

    app.get_as(&owner.token, &format!("/v1/orgs/{id}"))
        .await
        .assert_status(200);
    app.get_as(&stranger.token, &format!("/v1/orgs/{id}"))
        .await
        .assert_problem(403001);
    app.get_as(&owner.token, "/v1/orgs/org_missing")
        .await
        .assert_problem(404003);
    // Membership is checked before the body.
    app.patch_as(
        &stranger.token,
        &format!("/v1/orgs/{id}"),
        &json!({"bad": 1}),
    )
    .await
    .assert_problem(403001);

    let res = app
        .patch_as(
            &owner.token,
            &format!("/v1/orgs/{id}"),
            &json!({"name": "Acme GmbH", "billingEmail": "Billing@Acme.example"}),
        )
        .await;
    let updated = res.assert_status(200);
    assert_eq!(
        (updated["name"].as_str(), updated["billingEmail"].as_str()),
        (Some("Acme GmbH"), Some("billing@acme.example"))
    );
    let res = app
        .patch_as(
            &owner.token,
            &format!("/v1/orgs/{id}"),
            &json!({"billingEmail": null}),
        )
        .await;
    assert_eq!(res.assert_status(200)["billingEmail"], Value::Null);

    let members = app
        .get_as(&owner.token, &format!("/v1/orgs/{id}/members"))
        .await;
    let first = &members.assert_status(200)["items"][0];
    assert_eq!(
        (
            first["userId"].as_str(),
            first["role"].as_str(),
            first["legalSignatory"].as_bool()
        ),
        (Some(owner.id.as_str()), Some("owner"), Some(false))
    );
    assert_eq!(first["email"], "owner@example.com");

    app.delete_as(&owner.token, &format!("/v1/orgs/{id}"))
        .await
        .assert_status(204);
    app.get_as(&owner.token, &format!("/v1/orgs/{id}"))
        .await
        .assert_problem(404003);
}

#[tokio::test]
async fn an_access_token_needs_the_orgs_scopes() {
    let app = TestApp::spawn().await;
    let owner = app.sign_in("scoped@example.com").await;
    let read = app.access_token(&owner, &["orgs:read"]).await;
    let res = app
        .post_as(&read, "/v1/orgs", &json!({"name": "A", "country": "DE"}))
        .await;
    assert_eq!(res.assert_problem(403014)["requiredScope"], "orgs:write");
    let org = app.org(&owner).name("Scoped").create().await.id;
    app.get_as(&read, &format!("/v1/orgs/{org}"))
        .await
        .assert_status(200);
    app.get_as(&read, "/v1/orgs").await.assert_status(200);
}

/// Every resource × action × role of the permission table, through a route that needs it.
#[tokio::test]
async fn the_whole_permission_table_answers_as_written() {
    let app = TestApp::spawn().await;
    let owner = app.sign_in("t-owner@example.com").await;
    let others = [
        (Role::Admin, app.sign_in("t-admin@example.com").await),
        (Role::Billing, app.sign_in("t-billing@example.com").await),
        (Role::Member, app.sign_in("t-member@example.com").await),
    ];
    let mut checked = 0;
    for rule in permissions::TABLE {
        let routes: Vec<&policy::Route> = policy::ROUTES
            .iter()
            .filter(|r| match r.policy.org {
                Some(OrgRule::Permission(res, act))
                | Some(OrgRule::PermissionUnlessSelf(res, act)) => {
                    res == rule.resource && act == rule.action
                }
                _ => false,
            })
            .collect();
        for route in routes {
            for (i, role) in Role::ALL.iter().enumerate() {
                let org = app.org(&owner).name("Walk").create().await.id;
                for (other_role, user) in &others {
                    app.add_member(&org, user, other_role.as_str()).await;
                }
                let caller = if *role == Role::Owner {
                    &owner
                } else {
                    &others.iter().find(|(r, _)| r == role).unwrap().1
                };
                let path = route.path.replace("{orgId}", &org);
                let path = path
                    .split('/')
                    .map(|s| if s.starts_with('{') { "nobody" } else { s })
                    .collect::<Vec<_>>()
                    .join("/");
                let method = Method::from_bytes(route.method.as_bytes()).unwrap();
                let res = app
                    .req(method, &path)
                    .token(&caller.token)
                    .json(&json!({}))
                    .send()
                    .await;
                let denial = rule.action.denial().code();
                if rule.allowed[i] {
                    assert!(
                        res.json["code"] != denial && res.json["code"] != 403001,
                        "{} {} as {}: allowed by the table, got {}",
                        route.method,
                        route.path,
                        role.as_str(),
                        res.text
                    );
                } else {
                    res.assert_problem(denial);
                }
                checked += 1;
            }
        }
    }
    let unwalked: Vec<String> = permissions::TABLE
        .iter()
        .filter(|rule| !policy::ROUTES.iter().any(|r| matches!(r.policy.org,
            Some(OrgRule::Permission(res, act)) | Some(OrgRule::PermissionUnlessSelf(res, act)) if res == rule.resource && act == rule.action)))
        .map(|rule| format!("{} {}", rule.resource.as_str(), rule.action.as_str()))
        .collect();
    assert!(unwalked.is_empty(), "rules no route checks: {unwalked:?}");
    assert!(
        checked >= 4 * permissions::TABLE.len(),
        "walked {checked} combinations"
    );
}

#[tokio::test]
async fn members_change_roles_and_the_organization_keeps_an_owner() {
    let app = TestApp::spawn().await;
    let owner = app.sign_in("o@example.com").await;
    let admin = app.sign_in("a@example.com").await;
    let billing = app.sign_in("b@example.com").await;
    let member = app.sign_in("m@example.com").await;
    let org = app.org(&owner).name("Roles").create().await.id;
    app.invite_and_accept(&owner, &org, &admin, "admin").await;
    app.invite_and_accept(&owner, &org, &billing, "billing")
        .await;
    let joined = app.invite_and_accept(&admin, &org, &member, "member").await;
    assert_eq!(
        (joined["role"].as_str(), joined["legalSignatory"].as_bool()),
        (Some("member"), Some(false))
    );

    let path = |user: &User| format!("/v1/orgs/{org}/members/{}", user.id);
    // Owners change roles; billing members cannot (403010); the sole owner cannot step down.
    app.patch_as(&billing.token, &path(&member), &json!({"role": "admin"}))
        .await
        .assert_problem(403010);
    app.patch_as(&owner.token, &path(&owner), &json!({"role": "admin"}))
        .await
        .assert_problem(400002);
    app.patch_as(&owner.token, &path(&member), &json!({"role": "boss"}))
        .await
        .assert_problem(400002);
    let res = app
        .patch_as(&owner.token, &path(&member), &json!({"role": "billing"}))
        .await;
    assert_eq!(res.assert_status(200)["role"], "billing");
    app.patch_as(
        &owner.token,
        &format!("/v1/orgs/{org}/members/usr_nobody"),
        &json!({"role": "admin"}),
    )
    .await
    .assert_problem(404003);

    // Admins remove members but not owners; anyone may leave; the last owner cannot.
    app.patch_as(&owner.token, &path(&admin), &json!({"role": "owner"}))
        .await
        .assert_status(200);
    app.patch_as(&admin.token, &path(&admin), &json!({"role": "admin"}))
        .await;
    app.patch_as(&owner.token, &path(&admin), &json!({"role": "admin"}))
        .await
        .assert_status(200);
    app.delete_as(&admin.token, &path(&owner))
        .await
        .assert_problem(403011);
    app.delete_as(&admin.token, &path(&member))
        .await
        .assert_status(204);
    app.delete_as(&billing.token, &path(&billing))
        .await
        .assert_status(204);
    app.delete_as(&owner.token, &path(&owner))
        .await
        .assert_problem(400002);
    let res = app
        .get_as(&owner.token, &format!("/v1/orgs/{org}/members"))
        .await;
    assert_eq!(res.json["total"], 2);
    // Audited.
    let admin_user = app.admin().await;
    let events = app
        .get_as(&admin_user.token, "/v1/audit-events?limit=100")
        .await
        .json;
    let actions: Vec<&str> = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    for action in [
        "member.added",
        "member.role_changed",
        "member.removed",
        "member.left",
        "invitation.created",
    ] {
        assert!(actions.contains(&action), "{action} audited");
    }
}

/// Two owners demoting each other at once, from two processes (on PostgreSQL two connections
/// really race): one wins, the other is refused, and one owner always remains.
#[tokio::test]
async fn two_owners_demoting_each_other_at_once_leave_one_owner() {
    let app = TestApp::spawn().await;
    let peer = app.spawn_peer().await;
    let client = reqwest::Client::new();
    for round in 0..8 {
        let first = app.sign_in(&format!("first{round}@example.com")).await;
        let second = app.sign_in(&format!("second{round}@example.com")).await;
        let org = app
            .org(&first)
            .name(&format!("Race {round}"))
            .member(&second, "owner")
            .create()
            .await
            .id;
        let demote = |base: String, token: String, target: String| {
            let client = client.clone();
            let url = format!("{base}/v1/orgs/{org}/members/{target}");
            async move {
                client
                    .patch(url)
                    .bearer_auth(token)
                    .json(&json!({"role": "admin"}))
                    .send()
                    .await
                    .expect("request")
                    .status()
                    .as_u16()
            }
        };
        let (a, b) = tokio::join!(
            demote(app.base.clone(), first.token.clone(), second.id.clone()),
            demote(peer.base.clone(), second.token.clone(), first.id.clone()),
        );
        // The loser is refused as the last owner (400002), or, when the winner committed
        // before its authorisation, as an admin who may not change an owner (403).
        let mut statuses = [a, b];
        statuses.sort();
        assert!(
            statuses[0] == 200 && [400, 403].contains(&statuses[1]),
            "round {round}: {statuses:?}"
        );
        let members = app
            .get_as(&first.token, &format!("/v1/orgs/{org}/members"))
            .await;
        let owners = members.json["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["role"] == "owner")
            .count();
        assert_eq!(owners, 1, "round {round}: {}", members.text);
    }
}

#[tokio::test]
async fn invitations_are_answered_once_by_the_invitee() {
    let app = TestApp::spawn().await;
    let owner = app.sign_in("io@example.com").await;
    let member = app.sign_in("im@example.com").await;
    let guest = app.sign_in("guest@example.com").await;
    let other = app.sign_in("other@example.com").await;
    let org = app.org(&owner).name("Invites").create().await.id;
    app.invite_and_accept(&owner, &org, &member, "member").await;

    app.invitation(&member, &org, "x@example.com", "member")
        .send()
        .await
        .assert_problem(403008);
    app.get_as(&member.token, &format!("/v1/orgs/{org}/invitations"))
        .await
        .assert_problem(403009);
    app.invitation(&owner, &org, "nope", "member")
        .send()
        .await
        .assert_problem(400002);
    app.invitation(&owner, &org, "im@example.com", "member")
        .send()
        .await
        .assert_problem(400002);

    let res = app
        .invitation(&owner, &org, "Guest@Example.com", "billing")
        .send()
        .await;
    let created = res.assert_status(201).clone();
    let id = created["id"].as_str().unwrap();
    assert!(id.starts_with("ivt_"));
    assert_eq!(
        app.last_mail("guest@example.com", "invitation")["data"]["invitationId"],
        id
    );
    let mine = app.get_as(&guest.token, "/v1/me/invitations").await;
    assert_eq!(mine.assert_status(200)["items"][0]["id"], id);

    app.post_as(
        &other.token,
        &format!("/v1/invitations/{id}/accept"),
        &json!({}),
    )
    .await
    .assert_problem(400010);
    app.post_as(
        &other.token,
        &format!("/v1/invitations/{id}/decline"),
        &json!({}),
    )
    .await
    .assert_problem(400010);
    app.post_as(
        &guest.token,
        "/v1/invitations/ivt_missing/accept",
        &json!({}),
    )
    .await
    .assert_problem(404003);

    // Accepted twice at once: one membership.
    let accept = format!("/v1/invitations/{id}/accept");
    let empty = json!({});
    let (a, b) = tokio::join!(
        app.post_as(&guest.token, &accept, &empty),
        app.post_as(&guest.token, &accept, &empty)
    );
    let mut statuses = [a.status, b.status];
    statuses.sort();
    assert_eq!(statuses, [200, 404], "{} / {}", a.text, b.text);
    let members = app
        .get_as(&owner.token, &format!("/v1/orgs/{org}/members"))
        .await;
    assert_eq!(members.json["total"], 3);

    // Revoked and expired invitations are gone.
    let revoked = app
        .invitation(&owner, &org, "other@example.com", "member")
        .send()
        .await
        .json["id"]
        .as_str()
        .unwrap()
        .to_string();
    app.delete_as(
        &owner.token,
        &format!("/v1/orgs/{org}/invitations/{revoked}"),
    )
    .await
    .assert_status(204);
    app.post_as(
        &other.token,
        &format!("/v1/invitations/{revoked}/accept"),
        &json!({}),
    )
    .await
    .assert_problem(404003);
    let expired = app
        .invitation(&owner, &org, "other@example.com", "member")
        .send()
        .await
        .json["id"]
        .as_str()
        .unwrap()
        .to_string();
    app.advance(7 * 86400 + 1).await;
    // Seven days also ended the idle sessions.
    let (owner, other) = (
        app.sign_in("io@example.com").await,
        app.sign_in("other@example.com").await,
    );
    app.post_as(
        &other.token,
        &format!("/v1/invitations/{expired}/accept"),
        &json!({}),
    )
    .await
    .assert_problem(404003);
    let declined = app
        .invitation(&owner, &org, "other@example.com", "member")
        .send()
        .await
        .json["id"]
        .as_str()
        .unwrap()
        .to_string();
    let res = app
        .post_as(
            &other.token,
            &format!("/v1/invitations/{declined}/decline"),
            &json!({}),
        )
        .await;
    assert_eq!(res.assert_status(200)["status"], "declined");
    app.post_as(
        &other.token,
        &format!("/v1/invitations/{declined}/accept"),
        &json!({}),
    )
    .await
    .assert_problem(404003);
    // A nested id of another organization is not found.
    let elsewhere = app.org(&other).name("Elsewhere").create().await.id;
    app.delete_as(
        &other.token,
        &format!("/v1/orgs/{elsewhere}/invitations/{declined}"),
    )
    .await
    .assert_problem(404003);
}

#[tokio::test]
async fn an_invitation_to_an_unverified_address_waits_for_its_sign_in() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let owner = app.sign_in("uo@example.com").await;
    let org = app.org(&owner).name("Unverified").create().await.id;
    // An administrator created the account; nobody has proved the address yet.
    app.post_as(
        &admin.token,
        "/v1/users",
        &json!({"id": "pre-made", "email": "pre@example.com"}),
    )
    .await
    .assert_status(201);
    let res = app
        .post_as(
            &owner.token,
            &format!("/v1/orgs/{org}/invitations"),
            &json!({"email": "pre@example.com", "role": "member"}),
        )
        .await;
    let id = res.json["id"].as_str().unwrap().to_string();
    let invitee = app.sign_in("pre@example.com").await;
    assert_eq!(invitee.id, "pre-made");
    app.post_as(
        &invitee.token,
        &format!("/v1/invitations/{id}/accept"),
        &json!({}),
    )
    .await
    .assert_status(200);
}

static EMPTY: std::sync::LazyLock<Value> = std::sync::LazyLock::new(|| json!({}));

async fn agreement_fixture(app: &TestApp, org: &str) -> String {
    let (org, now) = (org.to_string(), app.state.clock.now());
    let agreement = app
        .state
        .db
        .write(move |w| {
            let new = charter::commerce::agreements::NewAgreement {
                org_id: &org,
                module_id: None,
                subscription_id: None,
                title: "Data processing agreement",
                text: "We process data carefully.",
            };
            Ok(charter::commerce::agreements::insert_in(w, new, now)?)
        })
        .await
        .unwrap();
    agreement.id
}

#[tokio::test]
async fn only_legal_signatories_sign_agreements() {
    let app = TestApp::spawn().await;
    let owner = app.sign_in("so@example.com").await;
    let signer = app.sign_in("signer@example.com").await;
    let member = app.sign_in("sm@example.com").await;
    let org = app.org(&owner).name("Signing").create().await.id;
    app.invite_and_accept(&owner, &org, &signer, "member").await;
    app.invite_and_accept(&owner, &org, &member, "billing")
        .await;
    let agreement = agreement_fixture(&app, &org).await;
    let sign_path = format!("/v1/orgs/{org}/agreements/{agreement}/sign");

    // Nobody is a signatory at first, the owner included.
    app.post_as(&owner.token, &sign_path, &EMPTY)
        .await
        .assert_problem(403007);
    app.post_as(&member.token, &sign_path, &EMPTY)
        .await
        .assert_problem(403007);
    // Making someone a signatory needs an elevated owner.
    app.advance(601).await;
    let path = format!("/v1/orgs/{org}/members/{}", signer.id);
    app.patch_as(&owner.token, &path, &json!({"legalSignatory": true}))
        .await
        .assert_problem(403006);
    app.elevate_by_email(&owner).await;
    let res = app
        .patch_as(&owner.token, &path, &json!({"legalSignatory": true}))
        .await;
    assert_eq!(res.assert_status(200)["legalSignatory"], true);

    // A `member` signatory signs whatever the role, once, elevated.
    let list = app
        .get_as(&member.token, &format!("/v1/orgs/{org}/agreements"))
        .await;
    let listed = &list.assert_status(200)["items"][0];
    assert_eq!(
        (listed["status"].as_str(), listed["signedBy"].clone()),
        (Some("pending"), Value::Null)
    );
    app.get_as(&signer.token, &format!("/v1/orgs/{org}/agreements"))
        .await
        .assert_problem(403009);
    app.post_as(&signer.token, &sign_path, &EMPTY)
        .await
        .assert_problem(403006);
    app.elevate_by_email(&signer).await;
    let res = app.post_as(&signer.token, &sign_path, &EMPTY).await;
    let signed = res.assert_status(200);
    assert_eq!(
        (signed["status"].as_str(), signed["signedBy"].as_str()),
        (Some("signed"), Some(signer.id.as_str()))
    );
    assert!(signed["signedAt"].is_string());
    assert_eq!(signed["textHash"].as_str().unwrap().len(), 64);
    app.post_as(&signer.token, &sign_path, &EMPTY)
        .await
        .assert_problem(400002);
    app.post_as(
        &signer.token,
        &format!("/v1/orgs/{org}/agreements/agr_missing/sign"),
        &json!({}),
    )
    .await
    .assert_problem(404003);
}

#[tokio::test]
async fn an_organization_passkey_policy_applies_to_its_members() {
    let app = TestApp::spawn().await;
    let owner = app.sign_in("po@example.com").await;
    let member = app.sign_in("pm@example.com").await;
    let keyed = app.sign_in("pk@example.com").await;
    let org = app.org(&owner).name("Policy").create().await.id;
    app.invite_and_accept(&owner, &org, &member, "member").await;
    app.invite_and_accept(&owner, &org, &keyed, "admin").await;
    let path = format!("/v1/orgs/{org}/security/require-passkeys");

    app.post_as(&keyed.token, &path, &json!({}))
        .await
        .assert_problem(403010);
    app.post_as(&owner.token, &path, &json!({}))
        .await
        .assert_problem(404004);
    let mut owner_key = SoftAuthenticator::new();
    let start = app
        .post_as(
            &owner.token,
            "/v1/me/passkeys/registration/start",
            &json!({}),
        )
        .await
        .json;
    let credential = owner_key.register(&start["publicKey"], ORIGIN);
    app.post_as(
        &owner.token,
        "/v1/me/passkeys/registration/finish",
        &json!({"challengeId": start["challengeId"], "credential": credential}),
    )
    .await
    .assert_status(201);
    app.elevate_by_passkey(&owner, &mut owner_key).await;
    let mut keyed_key = SoftAuthenticator::new();
    let start = app
        .post_as(
            &keyed.token,
            "/v1/me/passkeys/registration/start",
            &json!({}),
        )
        .await
        .json;
    let credential = keyed_key.register(&start["publicKey"], ORIGIN);
    app.post_as(
        &keyed.token,
        "/v1/me/passkeys/registration/finish",
        &json!({"challengeId": start["challengeId"], "credential": credential}),
    )
    .await
    .assert_status(201);

    let res = app.post_as(&owner.token, &path, &json!({})).await;
    assert_eq!(res.assert_status(200)["passkeysRequired"], true);
    app.post_as(&owner.token, &path, &json!({}))
        .await
        .assert_problem(400014);

    // The user-level rule sees the organization's policy.
    let res = app
        .get_as(&keyed.token, "/v1/me/security/require-passkeys")
        .await;
    assert_eq!(res.assert_status(200)["requiredBy"], json!([org]));
    app.elevate_by_passkey(&keyed, &mut keyed_key).await;
    app.post_as(&keyed.token, "/v1/me/security/require-passkeys", &json!({}))
        .await
        .assert_problem(400014);

    // Members sign in with a passkey after the code; one without a passkey gets a restricted session.
    let (challenge, code) = app.start_email_sign_in("pk@example.com").await;
    let second = app.verify_code(&challenge, &code).await;
    assert!(second.assert_problem(403013)["challengeId"].is_string());
    let (challenge, code) = app.start_email_sign_in("pm@example.com").await;
    let res = app.verify_code(&challenge, &code).await;
    let grant = res.assert_status(200);
    assert_eq!(grant["restricted"], true);
    let restricted = grant["sessionToken"].as_str().unwrap();
    app.get_as(restricted, &format!("/v1/orgs/{org}"))
        .await
        .assert_problem(403013);
    // Existing sessions keep working.
    app.get_as(&member.token, &format!("/v1/orgs/{org}"))
        .await
        .assert_status(200);

    app.delete_as(&owner.token, &path).await.assert_status(204);
    let (challenge, code) = app.start_email_sign_in("pm@example.com").await;
    assert_eq!(
        app.verify_code(&challenge, &code).await.assert_status(200)["restricted"],
        false
    );
}
