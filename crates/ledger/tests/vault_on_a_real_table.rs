//! The personal-data vault on a real DynamoDB API (dynoxide, or DynamoDB Local in the full run): a subject's key is
//! made once whatever fails or races while it is made — the response of the write that made it lost (the SDK retries
//! it, and the retry finds the key there), and two writers sealing a new subject's first values at the same time —
//! so every value sealed for the subject opens with the one key kept; and a forgotten subject's values do not open.

use std::sync::Arc;
use tributary_dynamodb::DynamoDbSubjectKeys;
use tributary_ledger::{KeyWrap, LocalKeyWrap, SubjectVault};
use tributary_store::personal::{Erasure, Vault};
use tributary_testkit::{dynamo, LoseResponses};

fn vault(client: aws_sdk_dynamodb::Client, wrap: &Arc<dyn KeyWrap>) -> SubjectVault {
    SubjectVault::new(
        Arc::new(DynamoDbSubjectKeys::new(
            client,
            &dynamo().subject_keys_table,
        )),
        wrap.clone(),
    )
}

fn subject() -> String {
    format!("subject-{}", uuid::Uuid::new_v4().simple())
}

#[tokio::test]
async fn a_lost_response_to_making_a_key_leaves_one_key_that_opens_what_was_sealed() {
    let wrap: Arc<dyn KeyWrap> = Arc::new(LocalKeyWrap::generate().unwrap());
    let lose = LoseResponses::new("UpdateItem", 1);
    let writer = vault(dynamo().client_with(lose.clone()), &wrap);
    let ada = subject();
    let sealed = writer.seal(&ada, "Ada Lovelace").await.unwrap();
    assert_eq!(
        lose.lost(),
        1,
        "the key's write was applied and its response lost"
    );
    // A reader with nothing cached opens it with the key the table kept.
    let reader = vault(dynamo().client(), &wrap);
    assert_eq!(
        reader.open(&[(&ada, &sealed)]).await.unwrap(),
        vec![Some("Ada Lovelace".to_owned())]
    );
}

#[tokio::test]
async fn two_writers_sealing_a_new_subject_at_once_keep_one_key() {
    let wrap: Arc<dyn KeyWrap> = Arc::new(LocalKeyWrap::generate().unwrap());
    let (one, two) = (
        vault(dynamo().client(), &wrap),
        vault(dynamo().client(), &wrap),
    );
    for _ in 0..10 {
        let ada = subject();
        let (first, second) = tokio::join!(one.seal(&ada, "first"), two.seal(&ada, "second"));
        let (first, second) = (first.unwrap(), second.unwrap());
        let reader = vault(dynamo().client(), &wrap);
        assert_eq!(
            reader
                .open(&[(&ada, &first), (&ada, &second)])
                .await
                .unwrap(),
            vec![Some("first".to_owned()), Some("second".to_owned())]
        );
        let record = Erasure {
            by: "operator".into(),
            reason: "test".into(),
            at: "2026-12-07T00:00:00Z".into(),
        };
        assert!(reader.forget(&ada, &record).await.unwrap());
        assert_eq!(
            one.open(&[(&ada, &first)]).await.unwrap(),
            vec![None],
            "a writer's cache does not outlive the key"
        );
    }
}
