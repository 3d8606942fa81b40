<?php
// Send a WhatsApp text message through wapi (PHP 7.4+ with the curl extension).
$ch = curl_init("http://localhost:8080/api/messages");
curl_setopt_array($ch, [
    CURLOPT_POST => true,
    CURLOPT_RETURNTRANSFER => true,
    CURLOPT_HTTPHEADER => ["X-API-Key: YOUR_API_KEY", "Content-Type: application/json"],
    CURLOPT_POSTFIELDS => json_encode(["to" => "923001234567", "text" => "Hello from wapi"]),
]);
$body = json_decode(curl_exec($ch), true);
curl_close($ch);
if (!$body["success"]) {
    fwrite(STDERR, $body["code"] . ": " . $body["error"] . "\n");
    exit(1);
}
echo "message " . $body["data"]["id"] . " is " . $body["data"]["status"] . "\n";
