//! Users and roles: admins manage users, the last owner stays, and an admin (or a service
//! key) never acts on an owner.

use momentum_contract_tests::TestApp;
use momentum_sdk::patch::UserPatch;
use momentum_sdk::types;

use crate::{assert_detail, fields, Refused, Sent, ANY_CODE};

use super::{audit_data, every_scope, key, user};

#[tokio::test]
async fn admins_manage_users_and_the_last_owner_stays() {
    let app = TestApp::spawn().await;
    let c = &app.client;
    let owner = c.users_list().send().await.unwrap().into_inner().data[0].clone();

    let created = c
        .users_create()
        .body(types::UserCreate {
            email: "mia@a.example".into(),
            name: Some("Mia".parse().unwrap()),
            role: Some(types::UserRole::Admin),
        })
        .send()
        .await
        .expect("create a user");
    assert_eq!(created.status().as_u16(), 201);
    let mia = created.into_inner().data;
    assert_eq!((mia.role.as_str(), mia.active), ("admin", true));
    c.users_create()
        .body(types::UserCreate {
            email: "MIA@a.example".into(),
            name: None,
            role: None,
        })
        .send()
        .await
        .refused_as("emails are unique per tenant", 409, ANY_CODE);

    // Mia's own key acts with an admin's powers, but an admin cannot make owners.
    let (_, mia_secret) = key(
        &app,
        &[],
        Some(types::ApiKeyCreate {
            name: "mia".parse().unwrap(),
            scopes: vec!["*".into()],
            expires_at: None,
            service: None,
            user_id: Some(mia.id),
        }),
    )
    .await;
    let as_mia = app.client_with_key(&mia_secret);
    as_mia
        .users_update()
        .id(mia.id)
        .body(UserPatch {
            name: None,
            role: Some(types::UserRole::Owner),
        })
        .send()
        .await
        .refused(403, ANY_CODE);

    let err = c
        .users_update()
        .id(owner.id)
        .body(UserPatch {
            name: None,
            role: Some(types::UserRole::Member),
        })
        .send()
        .await
        .refused_as("last owner demoted", 409, "conflict");
    assert_detail(&err, "role", "last_owner");
    let err = c.users_deactivate().id(owner.id).send().await.refused_as(
        "last owner deactivated",
        409,
        "conflict",
    );
    assert_detail(&err, "role", "last_owner");

    let renamed = c
        .users_update()
        .id(mia.id)
        .body(UserPatch {
            name: Some("Mia R.".into()),
            role: Some(types::UserRole::Member),
        })
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    assert_eq!(
        (renamed.name.as_str(), renamed.role.as_str()),
        ("Mia R.", "member")
    );
    as_mia.api_keys_list().send().await.refused_as(
        "a member's key loses admin with the role",
        403,
        ANY_CODE,
    );

    let gone = c
        .users_deactivate()
        .id(mia.id)
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    assert!(!gone.active && gone.deactivated_at.is_some());
    as_mia.contacts_list().send().await.refused_as(
        "a deactivated user's keys stop working",
        401,
        ANY_CODE,
    );

    let actions: Vec<String> = c
        .audit_events_list()
        .target_id(mia.id)
        .send()
        .await
        .unwrap()
        .into_inner()
        .data
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert_eq!(
        actions,
        ["user.created", "user.updated", "user.deactivated"]
    );

    let (_, b) = app.other_tenant().await;
    b.users_deactivate()
        .id(mia.id)
        .send()
        .await
        .refused(404, ANY_CODE);
}

#[tokio::test]
async fn an_owner_can_go_while_another_stays_and_a_service_key_touches_no_owner() {
    let app = TestApp::spawn().await;
    let c = &app.client;
    let first = c.users_list().send().await.unwrap().into_inner().data[0].clone();
    let bob = c
        .users_create()
        .body(types::UserCreate {
            email: "bob@a.example".into(),
            name: None,
            role: Some(types::UserRole::Owner),
        })
        .send()
        .await
        .expect("an owner makes an owner")
        .into_inner()
        .data;
    let as_key = |user_id, service| types::ApiKeyCreate {
        name: "k".parse().unwrap(),
        scopes: vec!["*".into()],
        expires_at: None,
        service,
        user_id,
    };
    let (_, bob_secret) = key(&app, &[], Some(as_key(Some(bob.id), None))).await;
    let (service, service_secret) = key(&app, &[], Some(as_key(None, Some(true)))).await;
    assert_eq!(service.user_id, None);
    let as_bob = app.client_with_key(&bob_secret);
    let as_service = app.client_with_key(&service_secret);

    // A service key holds every scope but is no owner: owners are not its to unmake.
    as_service
        .users_deactivate()
        .id(bob.id)
        .send()
        .await
        .refused(403, "forbidden");

    // Two active owners: either may go, the first one included.
    let gone = as_bob.users_deactivate().id(first.id).send().await;
    assert!(!gone.unwrap().into_inner().data.active);
    // Bob is now the last active owner, whoever asks.
    as_bob
        .users_deactivate()
        .id(bob.id)
        .send()
        .await
        .refused(409, "conflict");
    as_bob
        .users_update()
        .id(bob.id)
        .body(UserPatch {
            name: None,
            role: Some(types::UserRole::Admin),
        })
        .send()
        .await
        .refused(409, ANY_CODE);
    // The service key outlives the owner who made it.
    let listed = as_service.users_list().send().await;
    assert_eq!(listed.unwrap().status().as_u16(), 200);
}

/// Asserts a call was refused as forbidden, its first detail naming `field`.
#[track_caller]
fn forbidden_naming<T: std::fmt::Debug>(result: Sent<T>, field: &str) {
    let err = result.refused(403, "forbidden");
    assert_eq!(fields(&err).first().copied(), Some(field), "{err:?}");
}

#[tokio::test]
async fn an_admin_cannot_act_on_an_owner() {
    let app = TestApp::spawn().await;
    let c = &app.client;
    let owner = c.users_list().send().await.unwrap().into_inner().data[0].clone();
    let owner_key = c
        .api_keys_list()
        .user_id(owner.id)
        .send()
        .await
        .unwrap()
        .into_inner()
        .data[0]
        .id;
    let mia = user(&app, "mia@a.example", types::UserRole::Admin).await;
    let ned = user(&app, "ned@a.example", types::UserRole::Admin).await;
    let max = user(&app, "max@a.example", types::UserRole::Member).await;
    let (_, mia_secret) = key(&app, &[], Some(every_scope(Some(mia.id), None))).await;
    let as_mia = app.client_with_key(&mia_secret);

    // The reported escalation: a key acting as the owner, made by an admin.
    forbidden_naming(
        as_mia
            .api_keys_create()
            .body(every_scope(Some(owner.id), None))
            .send()
            .await,
        "user_id",
    );
    // Not above her: herself, another admin, a member.
    for target in [mia.id, ned.id, max.id] {
        let made = as_mia
            .api_keys_create()
            .body(every_scope(Some(target), None))
            .send()
            .await;
        assert_eq!(made.unwrap().status().as_u16(), 201);
    }
    let made_for_max = c
        .api_keys_list()
        .user_id(max.id)
        .send()
        .await
        .unwrap()
        .into_inner()
        .data[0]
        .id;
    let event = &audit_data(&app, "api_key.created", made_for_max).await[0];
    assert_eq!(event.actor_user_id, Some(mia.id), "the caller");
    assert_eq!(
        event.data["acts_as_user_id"],
        serde_json::json!(max.id),
        "and the user the key acts as"
    );

    // Every other operation on the owner.
    forbidden_naming(as_mia.api_keys_revoke().id(owner_key).send().await, "id");
    forbidden_naming(
        as_mia
            .users_update()
            .id(owner.id)
            .body(UserPatch {
                name: Some("Not the owner".into()),
                role: None,
            })
            .send()
            .await,
        "id",
    );
    forbidden_naming(as_mia.users_deactivate().id(owner.id).send().await, "id");
    let owners_token = app.sign_in(c).await;
    forbidden_naming(
        as_mia
            .session_tokens_revoke()
            .id(owners_token.token_id)
            .send()
            .await,
        "id",
    );
    // Nothing changed.
    let still = c
        .users_get()
        .id(owner.id)
        .send()
        .await
        .unwrap()
        .into_inner();
    assert_eq!((still.data.name, still.data.active), (owner.name, true));
    assert!(app
        .client_with_key(&owners_token.token)
        .contacts_list()
        .send()
        .await
        .is_ok());

    // Equals and those below are hers to manage.
    let renamed = as_mia
        .users_update()
        .id(ned.id)
        .body(UserPatch {
            name: Some("Ned".into()),
            role: None,
        })
        .send()
        .await;
    assert_eq!(renamed.unwrap().status().as_u16(), 200);
    assert!(as_mia.users_deactivate().id(max.id).send().await.is_ok());

    // A service key ranks as an admin: owners are never its to act on.
    let (_, service_secret) = key(&app, &[], Some(every_scope(None, Some(true)))).await;
    let as_service = app.client_with_key(&service_secret);
    forbidden_naming(
        as_service
            .api_keys_create()
            .body(every_scope(Some(owner.id), None))
            .send()
            .await,
        "user_id",
    );
    forbidden_naming(
        as_service.api_keys_revoke().id(owner_key).send().await,
        "id",
    );
    let for_ned = as_service
        .api_keys_create()
        .body(every_scope(Some(ned.id), None))
        .send()
        .await;
    assert_eq!(for_ned.unwrap().status().as_u16(), 201);

    // The owner acts on anyone, other owners included.
    let bob = user(&app, "bob@a.example", types::UserRole::Owner).await;
    let for_bob = c
        .api_keys_create()
        .body(every_scope(Some(bob.id), None))
        .send()
        .await;
    assert_eq!(for_bob.unwrap().status().as_u16(), 201);
}
