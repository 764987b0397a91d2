use momentum_contract_tests::TestApp;

use crate::{Refused, ANY_CODE};

#[tokio::test]
async fn a_tenant_sees_its_own_users_only() {
    let app = TestApp::spawn().await;
    let users = app.client.users_list().send().await.unwrap().into_inner();
    assert_eq!(users.data.len(), 1);
    let owner = &users.data[0];
    assert_eq!(
        (owner.email.as_str(), owner.role.as_str()),
        ("owner@a.example", "owner")
    );
    let got = app.client.users_get().id(owner.id).send().await.unwrap();
    assert_eq!(&got.into_inner().data, owner);
    let admins = app.client.users_list().role("admin").send().await.unwrap();
    assert!(admins.into_inner().data.is_empty());
    let by_email = app
        .client
        .users_list()
        .email("OWNER@a.example")
        .send()
        .await
        .unwrap();
    assert_eq!(by_email.into_inner().data.len(), 1);

    let (_, b) = app.other_tenant().await;
    b.users_get()
        .id(owner.id)
        .send()
        .await
        .refused(404, ANY_CODE);
    let theirs = b.users_list().send().await.unwrap().into_inner().data;
    assert!(theirs.iter().all(|u| u.id != owner.id));
}
