-- Revocation notices a key manager still has to deliver to a listener (a control plane's /notify); a row goes
-- once the listener took it, so a restart or a listener that is away loses none.
CREATE TABLE oauth_notice (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    listener VARCHAR(512) NOT NULL,
    body TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    INDEX oauth_notice_listener (listener, id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
