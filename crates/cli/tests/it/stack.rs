use super::*;

/// Plays Lambda's part for `payhook stack check` run as a process: polls the queue with the
/// consumer and ships its log lines to the log group, until the check ends. Returns its output.
async fn stack_check_against(
    stack: &Stack,
    queue: &str,
    log_group: &str,
    stack_name: &str,
    secret: &str,
) -> std::process::Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_payhook"))
        .args([
            "stack",
            "check",
            "--stack",
            stack_name,
            "--subscriber",
            SUBSCRIBER,
            "--timeout-secs",
            "20",
        ])
        .env("PAYHOOK_WEBHOOK_SECRET", secret)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run payhook stack check");
    let sqs = aws_sdk_sqs::Client::new(&stack.aws);
    while child.try_wait().expect("the check's status").is_none() {
        let (logs, _guard) = Logs::capture();
        poller::poll_once(&sqs, queue, &stack.consumer, 1)
            .await
            .expect("poll the queue");
        let lines: Vec<String> = logs.text().lines().map(str::to_string).collect();
        payhook_testkit::deployed::ship_logs(&stack.aws, log_group, &lines)
            .await
            .expect("ship the consumer's lines to its log group");
    }
    child.wait_with_output().expect("the check's output")
}

/// `payhook stack check` against the local stack: the stack's outputs from CloudFormation
/// (moto), a signed delivery through the webhook URL (the local ingress, which writes the
/// receive time in seconds as an HTTP API does), the consumer's notice read back from its log
/// group. A wrong secret fails in one line naming the reason.
#[tokio::test]
async fn stack_check_sends_through_the_webhook_url_and_reads_the_consumers_notice() {
    let stack = Stack::new().await;
    let queue = emulators::create_queue(&stack.aws, &unique("check-q"))
        .await
        .expect("queue");
    let ingress = payhook_testkit::ingress::Ingress::start(
        stack.aws.clone(),
        &queue,
        [(SUBSCRIBER.to_string(), stack.bundle.clone())].into(),
        0,
    )
    .await
    .expect("local ingress");
    let log_group = format!("/aws/lambda/{}", unique("consumer"));
    let stack_name = unique("payhook-check");
    payhook_testkit::deployed::create_stack(
        &stack.aws,
        &stack_name,
        ingress.url.trim_end_matches('/'),
        &log_group,
        "test",
    )
    .await
    .expect("a stack on moto");

    let passed = stack_check_against(&stack, &queue, &log_group, &stack_name, WHSEC).await;
    let (out, err) = (
        String::from_utf8_lossy(&passed.stdout),
        String::from_utf8_lossy(&passed.stderr),
    );
    assert!(passed.status.success(), "{out}{err}");
    assert!(
        out.contains(&format!("stack {stack_name} ok: evt_payhook_check_")),
        "{out}"
    );
    assert!(
        out.contains("acknowledged it (event type not handled)"),
        "{out}"
    );

    let failed =
        stack_check_against(&stack, &queue, &log_group, &stack_name, "whsec_not_acmes").await;
    assert_eq!(failed.status.code(), Some(1));
    let err = String::from_utf8_lossy(&failed.stderr);
    let last = err.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("payhook: the consumer's notice for evt_payhook_check_")
            && last.contains("outcome dead_lettered (bad_signature)"),
        "{err}"
    );
}
