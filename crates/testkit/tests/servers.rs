//! The servers really start, serve, survive a restart and go away.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::Duration;

use sqlx::{Connection, PgConnection};
use ultra_testkit::{PostgresServer, RedisServer};

async fn select_one(url: &str) -> i32 {
    let mut connection = PgConnection::connect(url).await.expect("connect");
    let (one,): (i32,) = sqlx::query_as("SELECT 1")
        .fetch_one(&mut connection)
        .await
        .expect("select");
    connection.close().await.expect("close");
    one
}

#[tokio::test]
async fn postgres_starts_accepts_restarts_and_accepts_again() {
    let mut server = PostgresServer::start().expect("start postgres");
    let url = server
        .create_database("ultra_test")
        .expect("create database");
    assert_eq!(url, server.url("ultra_test"));
    assert_eq!(select_one(&url).await, 1);

    let mut connection = PgConnection::connect(&url).await.expect("connect");
    sqlx::query("CREATE TABLE kept (id INT)")
        .execute(&mut connection)
        .await
        .expect("create table");
    sqlx::query("INSERT INTO kept VALUES (7)")
        .execute(&mut connection)
        .await
        .expect("insert");
    drop(connection);

    server.stop();
    assert!(!server.is_running());
    assert!(
        PgConnection::connect(&url).await.is_err(),
        "refused while stopped"
    );
    server.restart().expect("restart");
    assert!(server.is_running());
    let mut connection = PgConnection::connect(&url).await.expect("reconnect");
    let (kept,): (i32,) = sqlx::query_as("SELECT id FROM kept")
        .fetch_one(&mut connection)
        .await
        .expect("data survives a restart");
    assert_eq!(kept, 7);
    assert!(matches!(
        server.create_database("bad-name; DROP"),
        Err(ultra_testkit::TestkitError::InvalidName(_))
    ));
}

fn redis_command(port: u16, command: &str) -> std::io::Result<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    stream.write_all(format!("{command}\r\n").as_bytes())?;
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    if let Some(length) = line
        .strip_prefix('$')
        .and_then(|n| n.trim().parse::<usize>().ok())
    {
        let mut value = String::new();
        reader.read_line(&mut value)?;
        return Ok(value[..length].to_owned());
    }
    Ok(line.trim_end().to_owned())
}

#[test]
fn redis_restart_keeps_data_and_kill_loses_it() {
    let mut server = RedisServer::start().expect("start redis");
    let port = server.port();
    assert_eq!(server.url(), format!("redis://127.0.0.1:{port}/"));
    assert_eq!(redis_command(port, "SET k v").expect("set"), "+OK");

    server.stop();
    assert!(
        redis_command(port, "PING").is_err(),
        "refused while stopped"
    );
    server.restart().expect("restart");
    assert_eq!(server.port(), port, "same port after a restart");
    assert_eq!(redis_command(port, "GET k").expect("get"), "v");

    server.kill();
    server.restart().expect("restart after a crash");
    assert_eq!(redis_command(port, "EXISTS k").expect("exists"), ":0");
}
