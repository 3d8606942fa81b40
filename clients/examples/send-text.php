<?php
// Send a WhatsApp text message through wapi (PHP 7.4+ with the curl extension).
$ch = curl_init("http://localhost:8080/api/messages");
curl_setopt_array($ch, [
    CURLOPT_POST => true,
    CURLOPT_RETURNTRANSFER => true,
    CURLOPT_HTTPHEADER => ["X-API-Key: YOUR_API_KEY", "Content-Type: application/json"],
    CURLOPT_POSTFIELDS => json_encode(["to" => "923001234567", "text" => "Hello from wapi"]),
]);
$response = curl_exec($ch);
if ($response === false) {
    fwrite(STDERR, "could not reach wapi: " . curl_error($ch) . "\n");
    exit(1);
}
$body = json_decode($response, true);
if (!is_array($body)) {
    fwrite(STDERR, "HTTP " . curl_getinfo($ch, CURLINFO_RESPONSE_CODE) . ", not a wapi answer: " . $response . "\n");
    exit(1);
}
if (!$body["success"]) {
    fwrite(STDERR, $body["code"] . ": " . $body["error"] . "\n");
    exit(1);
}
echo "message " . $body["data"]["id"] . " is " . $body["data"]["status"] . "\n";
