//! The local API Gateway, fed by localstripe's own signed webhooks: a PaymentIntent confirmed on
//! localstripe -> its webhook -> the local ingress (the template's own mapping) -> SQS (moto) ->
//! the consumer -> the record credited once. And what API Gateway answers to requests its
//! route does not take.

use std::collections::HashMap;

use payhook_testkit::emulators;
use payhook_testkit::ingress::Ingress;
use payhook_testkit::localstripe;
use payhook_testkit::logs::Logs;
use payhook_testkit::poller;
use payhook_testkit::stack::*;

async fn post(url: &str, headers: &[(&str, &str)], body: &[u8]) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let url = url::Url::parse(url).unwrap();
    let host = format!("{}:{}", url.host_str().unwrap(), url.port().unwrap());
    let mut head = format!(
        "POST {} HTTP/1.1\r\nhost: {host}\r\ncontent-length: {}\r\nconnection: close\r\n",
        url.path(),
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let mut s = tokio::net::TcpStream::connect(&host).await.unwrap();
    s.write_all(head.as_bytes()).await.unwrap();
    let _ = s.write_all(body).await;
    let mut answer = Vec::new();
    let _ = s.read_to_end(&mut answer).await;
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, answer)
}

/// A stack, a queue of its own, and the local ingress routing acme's webhooks onto it.
async fn stack_behind_ingress(tag: &str) -> (Stack, String, Ingress) {
    let stack = Stack::new().await;
    let queue = emulators::create_queue(
        &stack.aws,
        &format!("{}-{tag}", stack.config.payments_table),
    )
    .await
    .expect("queue");
    let ingress = Ingress::start(
        stack.aws.clone(),
        &queue,
        HashMap::from([(SUBSCRIBER.to_string(), stack.bundle.clone())]),
        0,
    )
    .await
    .expect("ingress");
    (stack, queue, ingress)
}

#[tokio::test]
async fn localstripe_webhooks_reach_the_consumer_through_the_local_ingress() {
    let (stack, queue, ingress) = stack_behind_ingress("in").await;
    localstripe::register_webhook(
        &stack.stripe_base,
        &format!("it-{}", stack.config.payments_table),
        &format!("{}stripe/{SUBSCRIBER}", ingress.url),
        WHSEC,
        &["payment_intent.succeeded"],
    )
    .await
    .expect("register the webhook with localstripe");
    let pi = stack.intent("order-ingress-1", 4200).await;

    // localstripe posts about a second after the event; other tests' events come too.
    let sqs = aws_sdk_sqs::Client::new(&stack.aws);
    let (logs, _guard) = Logs::capture();
    let mut credited = None;
    for _ in 0..20 {
        poller::poll_once(&sqs, &queue, &stack.consumer, 1)
            .await
            .expect("poll");
        credited = stack.record(SUBSCRIBER, "order-ingress-1").await;
        if credited.is_some() {
            break;
        }
    }
    let record = credited.unwrap_or_else(|| panic!("not credited: {}", logs.text()));
    assert_eq!(record["paid"], 1);
    assert_eq!(record["last_payment_intent"], pi.as_str());
    let ours: Vec<serde_json::Value> = logs
        .notices()
        .into_iter()
        .filter(|n| n["payment_intent"] == pi.as_str())
        .collect();
    assert_eq!(ours.len(), 1, "{ours:?}");
    assert_eq!(ours[0]["outcome"], "credited");
    assert_eq!(ours[0]["event_type"], "payment_intent.succeeded");
}

#[tokio::test]
async fn the_local_ingress_answers_what_api_gateway_would() {
    let (stack, queue, ingress) = stack_behind_ingress("in2").await;
    let route = format!("{}stripe/{SUBSCRIBER}", ingress.url);
    let sig = [("stripe-signature", "t=1,v1=00")];
    for (url, headers, body, want) in [
        // No route for another subscriber or another path.
        (
            format!("{}stripe/globex", ingress.url),
            &sig[..],
            &b"{}"[..],
            404,
        ),
        (format!("{}other", ingress.url), &sig[..], &b"{}"[..], 404),
        // The mapped header is missing.
        (route.clone(), &[][..], &b"{}"[..], 400),
        // Not text: SQS takes no such body.
        (route.clone(), &sig[..], &[0xff, 0xfe][..], 500),
        // Taken: the consumer, not the ingress, judges the signature.
        (route.clone(), &sig[..], &b"{\"id\":\"evt_x\"}"[..], 200),
    ] {
        let (status, answer) = post(&url, headers, body).await;
        assert_eq!(status, want, "{url}: {answer}");
    }
    let too_big = vec![b'x'; payhook_testkit::ingress::MAX_BODY_BYTES + 1];
    let (status, _) = post(&route, &sig, &too_big).await;
    assert_eq!(status, 413);
    // Only the one it took is on the queue, raw body and mapped attributes.
    let sqs = aws_sdk_sqs::Client::new(&stack.aws);
    let got = sqs
        .receive_message()
        .queue_url(&queue)
        .max_number_of_messages(10)
        .message_attribute_names("All")
        .wait_time_seconds(1)
        .send()
        .await
        .unwrap();
    let messages = got.messages();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].body(), Some("{\"id\":\"evt_x\"}"));
    let attrs = messages[0].message_attributes().unwrap();
    assert_eq!(attrs["stripe-signature"].string_value(), Some("t=1,v1=00"));
    assert_eq!(attrs["subscriber"].string_value(), Some(SUBSCRIBER));
    assert_eq!(
        attrs["sealed-bundle"].string_value(),
        Some(stack.bundle.as_str())
    );
    assert_eq!(attrs["received-at"].data_type(), "Number");
    // Whole epoch seconds, as an HTTP API's `$context.requestTimeEpoch` writes it.
    let received_at: i64 = attrs["received-at"]
        .string_value()
        .and_then(|v| v.parse().ok())
        .expect("a whole number");
    assert!(
        received_at < payhook::inbound::SECONDS_BELOW,
        "{received_at} is not in seconds"
    );
    assert!((payhook::support::clock::now_ms() / 1000 - received_at).abs() < 60);
}
